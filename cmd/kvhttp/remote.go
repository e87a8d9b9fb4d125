package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"kvhttp/client"
)

// requestTimeout bounds one exchange with the server from the CLI.
const requestTimeout = 30 * time.Second

// newClient returns a client for the --addr of cmd.
func newClient(cmd *cobra.Command) *client.Client {
	addr, _ := cmd.Flags().GetString("addr")
	return &client.Client{Addr: addr}
}

// call sends one request and fails unless the status is 2xx, saying what
// the server said.
func call(cmd *cobra.Command, c *client.Client, req *client.Request) (*client.Response, error) {
	ctx, cancel := context.WithTimeout(cmd.Context(), requestTimeout)
	defer cancel()
	resp, err := c.Do(ctx, req)
	if err != nil {
		return nil, err
	}
	if resp.Status/100 != 2 {
		return nil, fmt.Errorf("%s %s: %d %s", req.Method, req.Target, resp.Status, explain(resp))
	}
	return resp, nil
}

// explain says why a request failed: the detail (or title) of a problem,
// else the body.
func explain(resp *client.Response) string {
	var p struct{ Title, Detail string }
	if string(resp.Header.Get("Content-Type")) == "application/problem+json" && json.Unmarshal(resp.Body, &p) == nil {
		if p.Detail != "" {
			return p.Detail
		}
		return p.Title
	}
	return strings.TrimSpace(string(resp.Body))
}
