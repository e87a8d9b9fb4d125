package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"kvhttp/loadgen"
)

func newBenchCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Load the server and report requests/s and latency percentiles",
		Long: `Send requests from many connections at once, as fast as the server answers,
and report the rate, latency percentiles and errors of each test:
"get" reads random keys of a keyspace it loads first, "put" writes them
(each write durable). With --pipeline N each connection keeps N requests
in flight. A progress line shows on a terminal. Exit status 1 if any
request failed.`,
		Args: args(0),
		RunE: bench,
	}
	f := cmd.Flags()
	f.IntP("connections", "c", 64, "concurrent connections")
	f.IntP("requests", "n", 100000, "requests per test")
	f.DurationP("duration", "d", 0, "run each test this long instead of -n requests")
	f.StringP("tests", "t", "get,put", "tests to run, in order: get, put")
	f.Int("pipeline", 1, "requests in flight per connection")
	f.Int("size", 64, "bytes per value")
	f.Int("keys", 10000, "distinct keys")
	f.Bool("no-load", false, "do not load the keys before the get test (an earlier run did)")
	return cmd
}

func bench(cmd *cobra.Command, _ []string) error {
	f := cmd.Flags()
	var cfg loadgen.Config
	cfg.Addr, _ = f.GetString("addr")
	cfg.Conns, _ = f.GetInt("connections")
	cfg.Requests, _ = f.GetInt("requests")
	cfg.Duration, _ = f.GetDuration("duration")
	cfg.Pipeline, _ = f.GetInt("pipeline")
	cfg.ValueSize, _ = f.GetInt("size")
	cfg.Keys, _ = f.GetInt("keys")
	cfg.NoLoad, _ = f.GetBool("no-load")
	// Zero would mean the default to loadgen; given on the command line it
	// is a mistake.
	for _, name := range []string{"connections", "requests", "pipeline", "size", "keys"} {
		if v, _ := f.GetInt(name); f.Changed(name) && v <= 0 {
			return usageError{fmt.Errorf("--%s %d: want a positive number", name, v)}
		}
	}
	tests, _ := f.GetString("tests")
	if f.Changed("requests") && f.Changed("duration") {
		return usageError{fmt.Errorf("give -n or -d, not both")}
	}
	if cfg.Duration > 0 {
		cfg.Requests = 0
	}
	out, errOut := cmd.OutOrStdout(), cmd.ErrOrStderr()
	failed := int64(0)
	for _, test := range strings.Split(tests, ",") {
		cfg.Test = strings.TrimSpace(test)
		if cfg.Test != loadgen.TestGet && cfg.Test != loadgen.TestPut {
			return usageError{fmt.Errorf("unknown test %q: want get or put", cfg.Test)}
		}
		cfg.Progress = progressLine(errOut, strings.ToUpper(cfg.Test))
		res, err := loadgen.Run(cmd.Context(), cfg)
		if cfg.Progress != nil {
			fmt.Fprint(errOut, "\r\033[K")
		}
		if err != nil {
			return connError{err}
		}
		report(out, res)
		failed += res.Errors
	}
	if failed > 0 {
		return fmt.Errorf("%d requests failed", failed)
	}
	return nil
}

// progressLine returns a progress reporter if w is a terminal, else nil.
func progressLine(w io.Writer, name string) func(int64, time.Duration) {
	if f, ok := w.(*os.File); !ok || !isTerminal(f) {
		return nil
	}
	return func(done int64, elapsed time.Duration) {
		fmt.Fprintf(w, "\r%s: %d requests, %.0f/s ", name, done, float64(done)/elapsed.Seconds())
	}
}

func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// report prints a test's result, in the manner of redis-benchmark.
func report(w io.Writer, r *loadgen.Result) {
	c := r.Config
	route := "GET /kv/{key}"
	if c.Test == loadgen.TestPut {
		route = "PUT /kv/{key}"
	}
	fmt.Fprintf(w, "%s: %d requests, %d connections, pipeline %d, %d keys, %d-byte values\n",
		route, r.Requests, c.Conns, c.Pipeline, c.Keys, c.ValueSize)
	fmt.Fprintf(w, "  %.3f s, %.0f requests/s, %d errors\n", r.Elapsed.Seconds(), r.PerSecond(), r.Errors)
	ms := func(q float64) float64 { return float64(r.Latency.Quantile(q)) / 1e6 }
	fmt.Fprintf(w, "  latency ms: p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  max %.3f\n",
		ms(0.5), ms(0.9), ms(0.99), ms(0.999), float64(r.Latency.Max())/1e6)
}
