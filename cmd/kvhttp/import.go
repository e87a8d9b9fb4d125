package main

import (
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"kvhttp/client"
)

func newImportCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "import FILE",
		Short: "Load a file of key:value lines (the origin's data file) in one transaction",
		Long: `Load a file of key:value lines into the server with POST /import: all
lines are written in one durable transaction, or none if any line is
malformed. Existing keys are overwritten; of repeated keys the last wins.
FILE "-" reads standard input.`,
		Args: args(1),
		RunE: func(cmd *cobra.Command, a []string) error {
			var body []byte
			var err error
			if a[0] == "-" {
				body, err = io.ReadAll(cmd.InOrStdin())
			} else {
				body, err = os.ReadFile(a[0])
			}
			if err != nil {
				return err
			}
			c := newClient(cmd)
			defer c.Close()
			resp, err := call(cmd, c, &client.Request{Method: "POST", Target: "/import", Body: body})
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s", resp.Body)
			return nil
		},
	}
}
