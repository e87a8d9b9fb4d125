package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"kvhttp/client"
)

func newRawCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "raw METHOD TARGET [BODY|@FILE|-]",
		Short: "Send any request and print the exact bytes of the exchange",
		Long: `Send METHOD TARGET (with BODY, "@path" for a file's contents, or "-" for
standard input) and print the request and the response exactly as they
went over the wire, as the origin's client did. Add fields with
--header "Name: value". The client adds Host and Content-Length. The exit
status is 0 whatever the response status, like curl's, and 3 when the
exchange itself failed.`,
		Args: func(cmd *cobra.Command, a []string) error {
			if len(a) < 2 || len(a) > 3 {
				return usageError{fmt.Errorf("raw takes METHOD TARGET [BODY], got %d argument(s)", len(a))}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, a []string) error {
			req := &client.Request{Method: a[0], Target: a[1]}
			if len(a) == 3 {
				body, err := readValue(cmd, a[2])
				if err != nil {
					return err
				}
				req.Body = body
			}
			headers, _ := cmd.Flags().GetStringArray("header")
			for _, h := range headers {
				name, value, ok := strings.Cut(h, ":")
				if !ok {
					return usageError{fmt.Errorf("--header %q: want \"Name: value\"", h)}
				}
				req.Header.Add(strings.TrimSpace(name), strings.TrimSpace(value))
			}
			tap := &wiretap{}
			c := newClient(cmd)
			c.Dial = tap.dial
			defer c.Close()
			ctx, cancel := withTimeout(cmd)
			defer cancel()
			_, err := c.Do(ctx, req)
			sent, received := tap.take()
			fmt.Fprintf(cmd.OutOrStdout(), "--- request\n%s--- response\n%s", withNewline(sent), withNewline(received))
			return remote(err)
		},
	}
	cmd.Flags().StringArrayP("header", "H", nil, `a field to send, "Name: value" (repeatable)`)
	return cmd
}
