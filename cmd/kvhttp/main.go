// Command kvhttp is a key-value server that speaks HTTP/1.1, and its
// client: serve runs the server; get, head, put, create, update, delete and
// list work on keys; raw shows any exchange byte for byte; demo and replay
// run scenarios such as the origin project's nine requests; import and
// export move key:value files in and out; bench measures the server.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
)

// defaultAddr is the origin's address: loopback, port 10000.
const defaultAddr = "127.0.0.1:10000"

// Exit statuses.
const (
	exitOK      = 0
	exitFailure = 1 // the command ran and failed: not found, precondition failed, refused
	exitUsage   = 2 // the command line was wrong
	exitConn    = 3 // the server could not be reached, or the exchange broke
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// usageError marks a mistake in the command line.
type usageError struct{ error }

// run executes the command line args and returns the exit status.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root := newRoot()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	fmt.Fprintf(stderr, "kvhttp: %s\n", message(err))
	var ue usageError
	var ce connError
	switch {
	case errors.As(err, &ue) || strings.HasPrefix(err.Error(), "unknown command"):
		return exitUsage
	case errors.As(err, &ce):
		return exitConn
	}
	return exitFailure
}

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:           "kvhttp",
		Short:         "A key-value server that speaks HTTP/1.1, and its client",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	addr := defaultAddr
	if env := os.Getenv("KVHTTP_ADDR"); env != "" {
		addr = env
	}
	root.PersistentFlags().String("addr", addr, "server address host:port (default from $KVHTTP_ADDR if set)")
	root.AddCommand(newServeCmd(), newDemoCmd(), newImportCmd(), newExportCmd(),
		newGetCmd(), newHeadCmd(), newPutCmd(), newCreateCmd(), newUpdateCmd(), newDeleteCmd(),
		newListCmd(), newRawCmd(), newReplayCmd(), newBenchCmd())
	return root
}

// keyArgs is args(n) for a command whose first argument is a key, which
// may not be empty (the empty path after /kv/ is the listing).
func keyArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, a []string) error {
		if err := args(n)(cmd, a); err != nil {
			return err
		}
		if a[0] == "" {
			return usageError{fmt.Errorf("%s: the key is empty", cmd.Name())}
		}
		return nil
	}
}

// args checks the number of positional arguments as a usage error.
func args(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, a []string) error {
		if len(a) != n {
			return usageError{fmt.Errorf("%s takes %d argument(s), got %d", cmd.Name(), n, len(a))}
		}
		return nil
	}
}
