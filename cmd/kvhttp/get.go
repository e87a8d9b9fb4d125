package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newGetCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "get KEY",
		Short: "Print a key's value",
		Long: `Print the value of KEY exactly as stored, with nothing added, so that
"kvhttp get k > file" copies it. --json prints the key, value, ETag and
content type as one JSON object. Exit status 1 if the key does not exist.`,
		Args: keyArgs(1),
		RunE: func(cmd *cobra.Command, a []string) error {
			c := newClient(cmd)
			defer c.Close()
			ctx, cancel := withTimeout(cmd)
			defer cancel()
			it, err := c.Get(ctx, a[0])
			if err != nil {
				return remote(err)
			}
			if asJSON(cmd) {
				return writeJSON(cmd.OutOrStdout(), itemJSON(it, true, false))
			}
			_, err = cmd.OutOrStdout().Write(it.Value)
			return err
		},
	}
	addJSONFlag(cmd)
	return cmd
}

func newHeadCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "head KEY",
		Short: "Print a key's ETag, content type and length, without its value",
		Args:  keyArgs(1),
		RunE: func(cmd *cobra.Command, a []string) error {
			c := newClient(cmd)
			defer c.Close()
			ctx, cancel := withTimeout(cmd)
			defer cancel()
			it, err := c.Head(ctx, a[0])
			if err != nil {
				return remote(err)
			}
			if asJSON(cmd) {
				return writeJSON(cmd.OutOrStdout(), itemJSON(it, false, true))
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "etag: %s\ncontent-type: %s\nlength: %d\n", it.ETag, it.ContentType, it.Length)
			return err
		},
	}
	addJSONFlag(cmd)
	return cmd
}

func addJSONFlag(cmd *cobra.Command) {
	cmd.Flags().Bool("json", false, "print JSON (bytes that are not UTF-8 as base64 under *_base64 names)")
}

func asJSON(cmd *cobra.Command) bool {
	v, _ := cmd.Flags().GetBool("json")
	return v
}
