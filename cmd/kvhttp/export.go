package main

import (
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
			req := &client.Request{Method: "GET", Target: "/"}
			req.Header.Add("Accept", "text/plain")
			resp, err := call(cmd, c, req)
			if err != nil {
				return err
			}
			_, err = cmd.OutOrStdout().Write(resp.Body)
			return err
		},
	}
}
