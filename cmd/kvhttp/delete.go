package main

import (
	"github.com/spf13/cobra"
)

func newDeleteCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "delete KEY",
		Short: "Delete a key",
		Long: `Delete KEY. With --if-match ETAG, only while the key is at that version.
Exit status 1 if the key does not exist or the condition fails.`,
		Args: keyArgs(1),
		RunE: func(cmd *cobra.Command, a []string) error {
			ifMatch, _ := cmd.Flags().GetString("if-match")
			c := newClient(cmd)
			defer c.Close()
			ctx, cancel := withTimeout(cmd)
			defer cancel()
			return remote(c.Delete(ctx, a[0], ifMatch))
		},
	}
	cmd.Flags().String("if-match", "", `delete only if the key's ETag is this one ("*": if it exists)`)
	return cmd
}
