package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"kvhttp/client"
	"kvhttp/wire"
)

// requestTimeout bounds one exchange with the server from the CLI (a
// variable so that tests can shorten it).
var requestTimeout = 30 * time.Second

// connError marks a failure to exchange with the server at all (exit 3),
// as opposed to a refusal by the server (exit 1).
type connError struct{ error }

func (e connError) Unwrap() error { return e.error }

// remote classifies an error from the client: a refusal stays an
// *client.Error, anything else is a connError.
func remote(err error) error {
	var ce *client.Error
	if err == nil || errors.As(err, &ce) {
		return err
	}
	return connError{err}
}

// newClient returns a client for the --addr of cmd.
func newClient(cmd *cobra.Command) *client.Client {
	addr, _ := cmd.Flags().GetString("addr")
	return &client.Client{Addr: addr}
}

// pageClient readies c for a command that lists a page at a time: a page
// holds as many items as the server sends, and values escaped in JSON can
// take six bytes a byte, so no limit applies to its size; a server that
// stalls for requestTimeout fails the command.
func pageClient(c *client.Client) {
	c.Limits.MaxBodyBytes = -1
	c.ReadTimeout = requestTimeout
}

// withTimeout returns the context for one exchange of cmd.
func withTimeout(cmd *cobra.Command) (context.Context, context.CancelFunc) {
	return context.WithTimeout(cmd.Context(), requestTimeout)
}

// call sends one request and fails unless the status is 2xx, saying what
// the server said.
func call(cmd *cobra.Command, c *client.Client, req *client.Request) (*client.Response, error) {
	ctx, cancel := withTimeout(cmd)
	defer cancel()
	resp, err := c.Do(ctx, req)
	if err != nil {
		return nil, remote(err)
	}
	if resp.Status/100 != 2 {
		return nil, refusal(req, resp)
	}
	return resp, nil
}

// refusal is the error for a response with a failure status.
func refusal(req *client.Request, resp *client.Response) error {
	return &client.Error{Method: req.Method, Target: req.Target, Status: resp.Status, Detail: explain(resp)}
}

// explain says why a request failed: the detail (or title) of a problem,
// else the body.
func explain(resp *client.Response) string {
	e := client.ErrorOf(&client.Request{}, resp)
	if e.Detail != "" {
		return e.Detail
	}
	if e.Title != "" {
		return e.Title
	}
	return strings.TrimSpace(string(resp.Body))
}

// readValue returns a value given as an argument: "-" reads standard
// input, "@path" a file, anything else is the value itself.
func readValue(cmd *cobra.Command, arg string) ([]byte, error) {
	switch {
	case arg == "-":
		return io.ReadAll(cmd.InOrStdin())
	case strings.HasPrefix(arg, "@"):
		return os.ReadFile(arg[1:])
	}
	return []byte(arg), nil
}

// message is the one line a failed command prints: the server's detail
// for a refusal, the cause for anything else.
func message(err error) string {
	var ce *client.Error
	if errors.As(err, &ce) {
		what := ce.Detail
		if what == "" {
			what = ce.Title
		}
		if what == "" { // a HEAD's answer has no body to say why
			what = wire.StatusText(ce.Status)
		}
		return fmt.Sprintf("%s %s: %d %s", ce.Method, ce.Target, ce.Status, what)
	}
	return err.Error()
}
