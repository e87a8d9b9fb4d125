package main

import (
	"io"

	"github.com/spf13/cobra"

	"kvhttp/client"
)

func newExportCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "export",
		Short: "Print every pair as key:value lines, the origin's file format",
		Args:  args(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c := newClient(cmd)
			defer c.Close()
			// The listing is as large as the store: it is copied to the
			// output as it arrives, never held, so no body limit applies,
			// and no bound on the whole exchange either: only a server
			// that stalls for requestTimeout fails it.
			c.Limits.MaxBodyBytes = -1
			c.ReadTimeout = requestTimeout
			req := &client.Request{Method: "GET", Target: "/"}
			req.Header.Add("Accept", "text/plain")
			resp, body, err := c.Open(cmd.Context(), req)
			if err != nil {
				return remote(err)
			}
			defer body.Close()
			if resp.Status/100 != 2 {
				resp.Body, _ = io.ReadAll(io.LimitReader(body, maxProblemBytes))
				return refusal(req, resp)
			}
			if _, err := io.Copy(cmd.OutOrStdout(), body); err != nil {
				// The server stopped in the middle: what was printed is
				// not the whole store, and the exit status says so.
				return remote(err)
			}
			return nil
		},
	}
}

// maxProblemBytes bounds the error body a streamed command reads to
// explain a refusal.
const maxProblemBytes = 64 << 10
