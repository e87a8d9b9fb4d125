package main

import (
	"bufio"
	"bytes"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"kvhttp/client"
)

func newExportCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "export",
		Short: "Print every pair as key:value lines, the origin's file format",
		Long: `Print every pair as key:value lines, in key order, the format import reads.
A pair the format cannot carry (a colon in its key, a line break in either
part, bytes that are not UTF-8) stops the export with exit status 1 rather
than be written as another pair; "kvhttp list --json" carries every pair.`,
		Args: args(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c := newClient(cmd)
			defer c.Close()
			pageClient(c)
			out := bufio.NewWriter(cmd.OutOrStdout())
			for it, err := range c.List(cmd.Context(), client.ListOptions{}) {
				if err != nil {
					// What was printed is not the whole store, and the
					// exit status says so.
					out.Flush()
					return remote(err)
				}
				if why := unexportable(it); why != "" {
					out.Flush()
					return fmt.Errorf("export stopped at key %q: %s, which key:value lines cannot carry", it.Key, why)
				}
				out.WriteString(it.Key)
				out.WriteByte(':')
				out.Write(it.Value)
				if err := out.WriteByte('\n'); err != nil {
					return err
				}
			}
			return out.Flush()
		},
	}
}

// unexportable says why a pair cannot be a key:value line that import
// reads back as the same pair, or "" if it can.
func unexportable(it *client.Item) string {
	switch {
	case strings.Contains(it.Key, ":"):
		return "its key holds a colon"
	case strings.ContainsAny(it.Key, "\r\n") || bytes.ContainsAny(it.Value, "\r\n"):
		return "it holds a line break"
	case !utf8.ValidString(it.Key) || !utf8.Valid(it.Value):
		return "it holds bytes that are not UTF-8"
	}
	return ""
}
