package loadgen

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"net"
	"testing"
	"time"

	"kvhttp/api"
	"kvhttp/internal/loopback"
	"kvhttp/server"
	"kvhttp/store/boltstore"
)

func TestHistogram(t *testing.T) {
	var h Histogram
	for i := 1; i <= 100000; i++ {
		h.Record(time.Duration(i) * time.Microsecond) // 1 µs .. 100 ms, uniform
	}
	for _, q := range []float64{0.5, 0.9, 0.99, 0.999} {
		want := time.Duration(q*100000) * time.Microsecond
		got := h.Quantile(q)
		if rel := math.Abs(float64(got-want)) / float64(want); rel > 1.0/subBuckets {
			t.Errorf("p%g: got %v; want %v within %.1f%%", q*100, got, want, 100.0/subBuckets)
		}
	}
	if h.Max() != 100*time.Millisecond || h.Quantile(1) != h.Max() || h.Count() != 100000 {
		t.Errorf("got max %v, p100 %v, count %d", h.Max(), h.Quantile(1), h.Count())
	}
	var small, merged Histogram
	small.Record(3)
	small.Record(0)
	merged.Merge(&small)
	merged.Merge(&h)
	if merged.Count() != 100002 || merged.Quantile(0) != 0 {
		t.Errorf("merged: got count %d, p0 %v", merged.Count(), merged.Quantile(0))
	}
	for _, d := range []time.Duration{0, 1, 63, 64, 65, 1000, time.Second, time.Hour, 1000 * time.Hour} {
		if i := bucket(uint64(d)); upper(i) < d && d < 1000*time.Hour {
			t.Errorf("%v: bucket %d ends at %v", d, i, upper(i))
		}
	}
}

func serveKV(t *testing.T) string {
	t.Helper()
	st, err := boltstore.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	quiet := slog.New(slog.DiscardHandler)
	srv := &server.Server{Handler: api.New(st, api.Options{Logger: quiet}), Logger: quiet}
	go srv.Serve(l)
	t.Cleanup(func() {
		srv.Close()
		st.Close()
	})
	return l.Addr().String()
}

func TestRun(t *testing.T) {
	addr := serveKV(t)
	for _, cfg := range []Config{
		{Test: TestGet, Conns: 4, Requests: 2000, Keys: 100},
		{Test: TestGet, Conns: 2, Requests: 2001, Pipeline: 16, Keys: 100, ValueSize: 1000},
		{Test: TestPut, Conns: 4, Requests: 200, Keys: 50},
		{Test: TestGet, Conns: 2, Duration: 500 * time.Millisecond, Keys: 10},
	} {
		cfg.Addr = addr
		progress := 0
		cfg.Progress = func(int64, time.Duration) { progress++ }
		res, err := Run(context.Background(), cfg)
		if err != nil {
			t.Fatalf("%+v: %v", cfg, err)
		}
		if res.Errors != 0 || res.Latency.Count() != uint64(res.Requests) {
			t.Errorf("%s: got %d errors, %d latencies for %d requests", cfg.Test, res.Errors, res.Latency.Count(), res.Requests)
		}
		if cfg.Requests > 0 && res.Requests != int64(cfg.Requests) {
			t.Errorf("%s: got %d requests; want %d", cfg.Test, res.Requests, cfg.Requests)
		}
		if cfg.Duration > 0 && (res.Requests == 0 || progress == 0) {
			t.Errorf("timed run: got %d requests, %d progress calls", res.Requests, progress)
		}
	}
}

func TestNoServer(t *testing.T) {
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := l.Addr().String()
	l.Close()
	if _, err := Run(context.Background(), Config{Addr: addr, Test: TestPut, Requests: 10, Conns: 1}); !errors.Is(err, ErrNoServer) {
		t.Errorf("got %v; want %v", err, ErrNoServer)
	}
}

// TestSilentServer: a server that takes requests and never answers ends
// a run all the same, with the requests in flight failed: a timed one
// stallGrace after its end, a counted one after stallGrace without an
// answer, the loading of keys as well, and any run once its context ends.
func TestSilentServer(t *testing.T) {
	addr := loopback.Silent(t)
	t.Run("timed", func(t *testing.T) {
		t.Parallel()
		start := time.Now()
		res, err := Run(context.Background(), Config{Addr: addr, Test: TestPut, Duration: 100 * time.Millisecond, Conns: 2})
		if err != nil || res.Errors == 0 || time.Since(start) > stallGrace+5*time.Second {
			t.Errorf("got %+v, %v after %v; want failed requests, by %v", res, err, time.Since(start), stallGrace)
		}
	})
	t.Run("counted", func(t *testing.T) {
		t.Parallel()
		start := time.Now()
		res, err := Run(context.Background(), Config{Addr: addr, Test: TestPut, Requests: 10, Conns: 2})
		if err != nil || res.Errors == 0 || time.Since(start) > stallGrace+5*time.Second {
			t.Errorf("got %+v, %v after %v; want failed requests, by %v", res, err, time.Since(start), stallGrace)
		}
	})
	t.Run("loading", func(t *testing.T) {
		t.Parallel()
		start := time.Now()
		if err := Load(context.Background(), Config{Addr: addr, Keys: 10}); err == nil || time.Since(start) > stallGrace+5*time.Second {
			t.Errorf("got %v after %v; want an error, by %v", err, time.Since(start), stallGrace)
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := Run(ctx, Config{Addr: addr, Test: TestPut, Requests: 10, Conns: 2})
		if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 5*time.Second {
			t.Errorf("got %v after %v; want %v at once", err, time.Since(start), context.DeadlineExceeded)
		}
	})
}

// BenchmarkWorker measures the generator's own cost per request, against
// a canned responder that costs next to nothing, pipelined 16 deep.
func BenchmarkWorker(b *testing.B) {
	addr := loopback.Serve(b, cannedResponder)
	cfg := Config{Addr: addr, Test: TestPut, Conns: 1, Pipeline: 16, Keys: 100, Requests: b.N}
	b.ReportAllocs()
	if _, err := Run(context.Background(), cfg); err != nil {
		b.Fatal(err)
	}
}

// cannedResponder answers every request head with the same 204, ignoring
// bodies it finds between heads: enough for PUTs whose body ends with
// "\r\n\r\n" never.
func cannedResponder(c net.Conn) {
	const answer = "HTTP/1.1 204 No Content\r\n\r\n"
	buf, out := make([]byte, 64<<10), []byte{}
	tail := 0 // bytes of a "\r\n\r\n" matched at the end of the last read
	for {
		n, err := c.Read(buf)
		if err != nil {
			return
		}
		out = out[:0]
		for _, ch := range buf[:n] {
			if want := "\r\n\r\n"[tail]; ch == want {
				if tail++; tail == 4 {
					out = append(out, answer...)
					tail = 0
				}
			} else if ch == '\r' {
				tail = 1
			} else {
				tail = 0
			}
		}
		c.Write(out)
	}
}
