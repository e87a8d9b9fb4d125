package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"kvhttp/client"
)

// The writing commands differ only in their precondition.
func newPutCmd() *cobra.Command {
	cmd := writeCmd("put", "Write a key's value",
		`Write VALUE under KEY, creating or replacing it. VALUE is the value itself,
"@path" for a file's contents, or "-" for standard input. --if-match ETAG
writes only while the key is at that version (compare-and-swap; "*": only
if it exists), --if-none-match "*" only if it does not. Prints the new
ETag. Exit status 1 if a condition fails.`, nil)
	cmd.Flags().String("if-match", "", `write only if the key's ETag is this one ("*": if it exists)`)
	cmd.Flags().String("if-none-match", "", `write only if the key's ETag is not this one ("*": if it does not exist)`)
	return cmd
}

func newCreateCmd() *cobra.Command {
	return writeCmd("create", "Write a key that does not exist yet",
		"Write VALUE under KEY only if KEY does not exist (If-None-Match: *); exit status 1 if it does.",
		&client.PutOptions{IfNoneMatch: "*"})
}

func newUpdateCmd() *cobra.Command {
	return writeCmd("update", "Replace the value of a key that exists",
		"Write VALUE under KEY only if KEY exists (If-Match: *); exit status 1 if it does not.",
		&client.PutOptions{IfMatch: "*"})
}

func writeCmd(name, short, long string, fixed *client.PutOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   name + " KEY VALUE|@FILE|-",
		Short: short,
		Long:  long,
		Args:  keyArgs(2),
		RunE: func(cmd *cobra.Command, a []string) error {
			value, err := readValue(cmd, a[1])
			if err != nil {
				return err
			}
			opts := client.PutOptions{}
			if fixed != nil {
				opts = *fixed
			} else {
				opts.IfMatch, _ = cmd.Flags().GetString("if-match")
				opts.IfNoneMatch, _ = cmd.Flags().GetString("if-none-match")
			}
			opts.ContentType, _ = cmd.Flags().GetString("content-type")
			c := newClient(cmd)
			defer c.Close()
			ctx, cancel := withTimeout(cmd)
			defer cancel()
			w, err := c.Put(ctx, a[0], value, &opts)
			if err != nil {
				return remote(err)
			}
			if asJSON(cmd) {
				j := itemJSON(&client.Item{Key: a[0], ETag: w.ETag}, false, false)
				j.Created = &w.Created
				return writeJSON(cmd.OutOrStdout(), j)
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), w.ETag)
			return err
		},
	}
	cmd.Flags().String("content-type", "", "content type to store with the value")
	addJSONFlag(cmd)
	return cmd
}
