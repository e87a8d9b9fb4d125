package main

import (
	"bufio"

	"github.com/spf13/cobra"

	"kvhttp/client"
)

func newListCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "list",
		Short: "Print keys and values, a page at a time",
		Long: `Print the keys (with --prefix, those starting with it; with --after, those
after it) in byte order, with their values as key:value lines, or the keys
alone with --keys, or one JSON object per line with --json. Pages are
fetched as the output goes; --limit stops after that many items.`,
		Args: args(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			f := cmd.Flags()
			var opts client.ListOptions
			opts.Prefix, _ = f.GetString("prefix")
			opts.After, _ = f.GetString("after")
			opts.PageSize, _ = f.GetInt("page-size")
			opts.KeysOnly, _ = f.GetBool("keys")
			limit, _ := f.GetInt("limit")
			c := newClient(cmd)
			defer c.Close()
			pageClient(c)
			out := bufio.NewWriter(cmd.OutOrStdout())
			defer out.Flush()
			n := 0
			for it, err := range c.List(cmd.Context(), opts) {
				if err != nil {
					return remote(err)
				}
				switch {
				case asJSON(cmd):
					if err := writeJSON(out, itemJSON(it, !opts.KeysOnly, false)); err != nil {
						return err
					}
				case opts.KeysOnly:
					out.WriteString(it.Key + "\n")
				default:
					out.WriteString(it.Key + ":")
					out.Write(it.Value)
					out.WriteByte('\n')
				}
				if n++; n == limit {
					break
				}
			}
			return out.Flush()
		},
	}
	f := cmd.Flags()
	f.String("prefix", "", "only keys starting with this")
	f.String("after", "", "only keys after this one")
	f.Int("limit", 0, "stop after this many items (0: all)")
	f.Int("page-size", 0, "items per request (0: the server's default)")
	f.Bool("keys", false, "keys only")
	addJSONFlag(cmd)
	return cmd
}
