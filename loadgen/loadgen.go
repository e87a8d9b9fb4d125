// Package loadgen is the load generator behind "kvhttp bench": many
// connections sending requests as fast as the server answers them,
// optionally pipelined, recording each request's latency.
//
// Workers use the wire codec directly, each on its own connection, and
// allocate nothing per request, so that the generator, sharing the machine
// with the server, takes as little of it as it can.
package loadgen

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"kvhttp/wire"
)

// Tests a run can make.
const (
	TestGet = "get" // GET /kv/{key} of keys loaded beforehand
	TestPut = "put" // PUT /kv/{key}: durable writes
)

// Config describes a run. Zero fields take the defaults below.
type Config struct {
	Addr      string        // host:port of the server
	Test      string        // TestGet or TestPut
	Conns     int           // concurrent connections; default 64
	Requests  int           // requests in all; default 100,000 unless Duration is set
	Duration  time.Duration // run for this long instead of a number of requests
	Pipeline  int           // requests in flight per connection; default 1
	ValueSize int           // bytes per value; default 64
	Keys      int           // distinct keys; default 10,000
	NoLoad    bool          // a GET run does not load its keys: they are there already
	// Progress, if set, is called about every 200 ms with the requests
	// completed so far.
	Progress func(done int64, elapsed time.Duration)
}

func (c *Config) defaults() {
	c.Conns = orDefault(c.Conns, 64)
	c.Pipeline = orDefault(c.Pipeline, 1)
	c.ValueSize = orDefault(c.ValueSize, 64)
	c.Keys = orDefault(c.Keys, 10000)
	if c.Duration == 0 {
		c.Requests = orDefault(c.Requests, 100000)
	}
	if c.Test == "" {
		c.Test = TestGet
	}
}

func orDefault(v, def int) int {
	if v > 0 {
		return v
	}
	return def
}

// Result is what a run measured.
type Result struct {
	Config   Config
	Requests int64 // completed, failed ones included
	Errors   int64 // answered with a status other than 2xx, or lost with their connection
	Elapsed  time.Duration
	Latency  Histogram // of every completed request, from its write to the end of its response
}

// PerSecond returns the rate of completed requests.
func (r *Result) PerSecond() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Requests) / r.Elapsed.Seconds()
}

// keyName is the name of key i of a run's keyspace.
func keyName(i int) string { return "bench" + fmt.Sprintf("%06d", i) }

// ErrNoServer reports that not one connection to the server succeeded.
var ErrNoServer = errors.New("loadgen: cannot reach the server")

// Run makes the requests cfg describes and measures them. A GET run loads
// its keys first (see Load), unless cfg.NoLoad.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	cfg.defaults()
	if cfg.Test != TestGet && cfg.Test != TestPut {
		return nil, fmt.Errorf("loadgen: unknown test %q (want %s or %s)", cfg.Test, TestGet, TestPut)
	}
	if cfg.Test == TestGet && !cfg.NoLoad {
		if err := Load(ctx, cfg); err != nil {
			return nil, err
		}
	}
	targets := make([]string, cfg.Keys)
	for i := range targets {
		targets[i] = "/kv/" + keyName(i)
	}
	method, body := wire.MethodGet, []byte(nil)
	if cfg.Test == TestPut {
		method, body = wire.MethodPut, []byte(strings.Repeat("v", cfg.ValueSize))
	}
	var (
		budget   atomic.Int64 // requests left to claim, when counted
		done     atomic.Int64
		wg       sync.WaitGroup
		results  = make([]*worker, cfg.Conns)
		timed    = cfg.Duration > 0
		deadline = time.Now().Add(cfg.Duration)
	)
	budget.Store(int64(cfg.Requests))
	claim := func(n int) int { // how many of n requests a worker may send
		if timed {
			if time.Now().After(deadline) {
				return 0
			}
			return n
		}
		left := budget.Add(-int64(n))
		return int(max(0, min(int64(n), left+int64(n))))
	}
	// A run ends even if the server stops answering: once no answer has
	// come for stallGrace (a timed run: or stallGrace after its end), the
	// requests in flight are cut off, as failures.
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if timed {
		var cancelAt context.CancelFunc
		wctx, cancelAt = context.WithDeadline(wctx, deadline.Add(stallGrace))
		defer cancelAt()
	}
	stopWatchdog := watchdog(&done, stallGrace, cancel)
	start := time.Now()
	for i := range results {
		w := &worker{cfg: &cfg, method: method, body: body, targets: targets, done: &done,
			rng: rand.New(rand.NewPCG(uint64(i), uint64(start.UnixNano())))}
		results[i] = w
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.run(wctx, claim)
		}()
	}
	stopProgress := progress(cfg.Progress, &done, start)
	wg.Wait()
	stopProgress()
	stopWatchdog()
	res := &Result{Config: cfg, Elapsed: time.Since(start)}
	reached := false
	for _, w := range results {
		res.Requests += w.requests
		res.Errors += w.errors
		res.Latency.Merge(&w.latency)
		reached = reached || w.connected
	}
	if !reached {
		return res, fmt.Errorf("%w at %s", ErrNoServer, cfg.Addr)
	}
	return res, ctx.Err()
}

// stallGrace is how long a timed run waits past its end for the answers
// to requests in flight.
const stallGrace = 5 * time.Second

// watchdog calls stall once done has not moved for d, checking every
// tenth of d, until the returned stop is called.
func watchdog(done *atomic.Int64, d time.Duration, stall func()) (stop func()) {
	quit, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(d / 10)
		defer t.Stop()
		last, since := done.Load(), time.Now()
		for {
			select {
			case <-quit:
				return
			case now := <-t.C:
				if n := done.Load(); n != last {
					last, since = n, now
				} else if now.Sub(since) >= d {
					stall()
					return
				}
			}
		}
	}()
	return func() {
		close(quit)
		<-finished
	}
}

// progress calls report every 200 ms until the returned stop is called.
func progress(report func(int64, time.Duration), done *atomic.Int64, start time.Time) (stop func()) {
	if report == nil {
		return func() {}
	}
	quit, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-quit:
				return
			case <-t.C:
				report(done.Load(), time.Since(start))
			}
		}
	}()
	return func() {
		close(quit)
		<-finished
	}
}

// worker sends requests on one connection at a time.
type worker struct {
	cfg       *Config
	method    string
	body      []byte
	targets   []string
	rng       *rand.Rand
	done      *atomic.Int64
	latency   Histogram
	requests  int64
	errors    int64
	connected bool
}

func (w *worker) run(ctx context.Context, claim func(int) int) {
	var (
		nc    net.Conn
		wc    *wire.ClientConn
		out   []byte
		buf   = make([]byte, 64<<10)
		h     wire.Header
		watch func() bool // ends ctx's watch over nc
	)
	h.Add("Host", w.cfg.Addr)
	drop := func() {
		watch()
		nc.Close()
		nc = nil
	}
	defer func() {
		if nc != nil {
			drop()
		}
	}()
	for ctx.Err() == nil {
		n := claim(w.cfg.Pipeline)
		if n == 0 {
			return
		}
		if nc == nil || !wc.Reusable() {
			if nc != nil {
				drop()
			}
			c, err := (&net.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, "tcp", w.cfg.Addr)
			if err != nil {
				w.fail(n)
				time.Sleep(10 * time.Millisecond)
				continue
			}
			// Once ctx ends, a read or write waiting on a silent server
			// fails at once: no per-request deadline on the hot path.
			nc, watch = c, context.AfterFunc(ctx, func() { c.SetDeadline(time.Unix(1, 0)) })
			w.connected = true
			wc = &wire.ClientConn{Limits: wire.Limits{MaxBodyBytes: -1}}
		}
		out = out[:0]
		for range n {
			out, _ = wc.AppendRequest(out, w.method, w.targets[w.rng.IntN(len(w.targets))], &h, w.body)
		}
		sent := time.Now()
		if _, err := nc.Write(out); err != nil {
			w.fail(n)
			drop()
			continue
		}
		if got := w.receive(nc, wc, buf, n, sent); got < n {
			w.fail(n - got)
			drop()
		}
	}
}

// receive reads n responses, recording each; it returns how many it got.
func (w *worker) receive(nc net.Conn, wc *wire.ClientConn, buf []byte, n int, sent time.Time) int {
	fill := func() bool {
		k, err := nc.Read(wc.Space(len(buf)))
		wc.Received(k)
		if err != nil {
			wc.FeedEOF()
			return k > 0
		}
		return true
	}
	for got := 0; got < n; got++ {
		r, err := wc.NextResponse()
		for errors.Is(err, wire.ErrNeedMore) {
			if !fill() {
				return got
			}
			r, err = wc.NextResponse()
		}
		if err != nil || r.Status < 200 {
			return got
		}
		ok := r.Status/100 == 2
		for {
			_, err := wc.ReadBody(buf)
			if errors.Is(err, wire.ErrNeedMore) {
				if !fill() {
					return got
				}
				continue
			}
			if err != nil {
				break
			}
		}
		w.latency.Record(time.Since(sent))
		w.requests++
		w.done.Add(1)
		if !ok {
			w.errors++
		}
	}
	return n
}

// fail counts n requests lost with their connection.
func (w *worker) fail(n int) {
	w.requests += int64(n)
	w.errors += int64(n)
	w.done.Add(int64(n))
}

// Load writes the run's keyspace (values of ValueSize bytes) with the bulk
// import route, in batches that stay under the server's default body limit.
func Load(ctx context.Context, cfg Config) error {
	cfg.defaults()
	nc, err := (&net.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, "tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("%w at %s: %w", ErrNoServer, cfg.Addr, err)
	}
	defer nc.Close()
	// Each import must be answered within stallGrace of being sent, and
	// ctx's end stops the load at once.
	defer context.AfterFunc(ctx, func() { nc.SetDeadline(time.Unix(1, 0)) })()
	value := strings.Repeat("v", cfg.ValueSize)
	var wc wire.ClientConn
	var h wire.Header
	h.Add("Host", cfg.Addr)
	for i := 0; i < cfg.Keys; {
		var body []byte
		for ; i < cfg.Keys && len(body) < 512<<10; i++ {
			body = append(append(append(append(body, keyName(i)...), ':'), value...), '\n')
		}
		out, err := wc.AppendRequest(nil, wire.MethodPost, "/import", &h, body)
		if err == nil && ctx.Err() == nil {
			err = nc.SetDeadline(time.Now().Add(stallGrace))
		}
		if err == nil {
			err = ctx.Err()
		}
		if err == nil {
			_, err = nc.Write(out)
		}
		if err == nil {
			err = expectOK(nc, &wc)
		}
		if err != nil {
			return fmt.Errorf("loadgen: loading keys: %w", err)
		}
	}
	return nil
}

// expectOK reads one response and fails unless it is 2xx.
func expectOK(nc net.Conn, wc *wire.ClientConn) error {
	buf := make([]byte, 4096)
	for {
		r, err := wc.NextResponse()
		if errors.Is(err, wire.ErrNeedMore) {
			n, rerr := nc.Read(wc.Space(4096))
			wc.Received(n)
			if rerr != nil && n == 0 {
				return rerr
			}
			continue
		}
		if err != nil {
			return err
		}
		var body []byte
		for {
			n, err := wc.ReadBody(buf)
			body = append(body, buf[:n]...)
			if errors.Is(err, wire.ErrNeedMore) {
				k, rerr := nc.Read(wc.Space(4096))
				wc.Received(k)
				if rerr != nil && k == 0 {
					return rerr
				}
				continue
			}
			if err != nil {
				break
			}
		}
		if r.Status/100 != 2 {
			return fmt.Errorf("status %d: %s", r.Status, strconv.Quote(string(body)))
		}
		return nil
	}
}
