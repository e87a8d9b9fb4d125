package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"kvhttp/client"
)

// demoCases are the origin client's nine requests and the status each
// should get on an empty store.
var demoCases = []struct {
	method, target, body string
	want                 int
}{
	{"HEAD", "/", "", 200},
	{"POST", "/create", "name:kangjuseong", 201},
	{"POST", "/create", "name:juseong-gang", 400},
	{"POST", "/create", "address:seongbukgu", 201},
	{"POST", "/create", "test", 400},
	{"GET", "/", "", 200},
	{"PUT", "/update", "name:juseong-kang", 200},
	{"PUT", "/update", "grade:A", 400},
	{"POST", "/test", "age:24", 404},
}

func newDemoCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "demo",
		Short: "Send the origin's nine test requests and print the raw exchange",
		Long: `Send the origin project's nine requests with kvhttp's own client and
print each request and response as they went over the wire. The expected
statuses assume an empty store: run it against a fresh data folder. The
exit status is 1 if any status differs.`,
		Args: args(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			tap := &wiretap{}
			c := newClient(cmd)
			c.Dial = tap.dial
			defer c.Close()
			out := cmd.OutOrStdout()
			failed := 0
			for i, tc := range demoCases {
				ctx, cancel := context.WithTimeout(cmd.Context(), requestTimeout)
				resp, err := c.Do(ctx, &client.Request{Method: tc.method, Target: tc.target, Body: []byte(tc.body)})
				cancel()
				if err != nil {
					return remote(err)
				}
				sent, received := tap.take()
				verdict := "as expected"
				if resp.Status != tc.want {
					verdict = fmt.Sprintf("EXPECTED %d", tc.want)
					failed++
				}
				fmt.Fprintf(out, "=== %d. %s %s -> %d (%s)\n", i+1, tc.method, tc.target, resp.Status, verdict)
				fmt.Fprintf(out, "--- request\n%s--- response\n%s\n", withNewline(sent), withNewline(received))
			}
			if failed > 0 {
				return fmt.Errorf("%d of %d cases got another status (is the store empty?)", failed, len(demoCases))
			}
			fmt.Fprintf(out, "all %d cases as expected\n", len(demoCases))
			return nil
		},
	}
}
