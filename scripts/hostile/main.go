// Command hostile attacks a kvhttp server on loopback the way slow and
// flooding clients do, while normal clients keep using it, and reports what
// the normal clients saw and how much memory the server took.
//
// It starts the server binary itself (fresh data folder per scenario), so
// it can read the server's memory. Scenarios, each against N attackers:
//
//	slow-headers  a request head trickled one field line a second (slowloris)
//	slow-bodies   a 1 MB body trickled one byte a second
//	slow-readers  thousands of pipelined GETs whose responses are never read
//	huge-headers  a header section that never ends, sent as fast as possible
//	huge-lengths  a request declaring a 1 GB body
//	endless-body  a chunked body that never ends, sent as fast as possible
//	flood         connections past the cap, opened as fast as possible
//
// Usage: go run ./scripts/hostile -bin path/to/kvhttp [-attackers 2000] [-duration 20s]
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"kvhttp/loadgen"
)

func main() {
	bin := flag.String("bin", "", "the kvhttp binary to attack")
	attackers := flag.Int("attackers", 2000, "hostile connections per scenario")
	normal := flag.Int("normal", 8, "connections of the normal clients")
	duration := flag.Duration("duration", 20*time.Second, "length of each scenario's measurement")
	only := flag.String("scenario", "", "run only this scenario")
	flag.Parse()
	if *bin == "" {
		fmt.Fprintln(os.Stderr, "hostile: -bin is required")
		os.Exit(2)
	}
	fmt.Printf("%-13s %9s %10s %8s %8s %8s %8s %9s %s\n",
		"scenario", "attackers", "normal r/s", "p50 ms", "p99 ms", "max ms", "errors", "peak RSS", "attackers")
	for _, s := range scenarios {
		if *only != "" && s.name != *only {
			continue
		}
		n := *attackers
		if s.name == "baseline" {
			n = 0
		}
		res, err := run(*bin, s, n, *normal, *duration)
		if err != nil {
			fmt.Fprintf(os.Stderr, "hostile: %s: %v\n", s.name, err)
			os.Exit(1)
		}
		fmt.Printf("%-13s %9d %10.0f %8.2f %8.2f %8.2f %8d %6d MiB %s\n", s.name, n,
			res.normal.perSecond, res.normal.p50, res.normal.p99, res.normal.max, res.normal.errors, res.peakRSS>>20, res.note)
	}
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

// scenario is one kind of attack.
type scenario struct {
	name     string
	serve    []string // extra flags for the server
	attack   func(ctx context.Context, c net.Conn) error
	flood    bool // attackers hold the cap; the rest are refused
	describe func(cut, refused int64, refusal *loadgen.Histogram) string
}

var scenarios = []scenario{
	{name: "baseline", describe: func(int64, int64, *loadgen.Histogram) string { return "" }},
	{name: "slow-headers", attack: slowHeaders, describe: cutNote("cut by the read-header timeout (10 s)")},
	{name: "slow-bodies", attack: slowBody, describe: cutNote("cut by the body read timeout (30 s)")},
	{name: "slow-readers", attack: slowReader, describe: func(int64, int64, *loadgen.Histogram) string {
		return "each left 5,000 responses unread (the write timeout, 30 s, cuts them)"
	}},
	{name: "huge-headers", attack: hugeHeaders, describe: cutNote("refused with 431 at 16 KiB")},
	{name: "huge-lengths", attack: hugeLength, describe: cutNote("refused with 413 before a byte of body")},
	{name: "endless-body", attack: endlessBody, describe: cutNote("refused: 413 at 1 MiB, or 503 while the body budget is spent")},
	{name: "flood", flood: true, serve: []string{"--max-conns", "1000"}, describe: func(_ int64, refused int64, h *loadgen.Histogram) string {
		return fmt.Sprintf("%d refused past the cap of 1000, 503 in p50 %.2f ms, p99 %.2f ms", refused, ms(h.Quantile(0.5)), ms(h.Quantile(0.99)))
	}},
}

func cutNote(what string) func(int64, int64, *loadgen.Histogram) string {
	return func(cut, _ int64, _ *loadgen.Histogram) string { return fmt.Sprintf("%d %s", cut, what) }
}

// result is what a scenario measured.
type result struct {
	normal  *normalResult
	peakRSS int64
	note    string
}

// benchKeys is the keyspace the normal clients read.
const benchKeys = 1000

// normalResult is what kvhttp bench reported for the normal clients.
type normalResult struct {
	perSecond     float64
	p50, p99, max float64 // milliseconds
	errors        int64
}

var (
	benchRate    = regexp.MustCompile(`([0-9.]+) requests/s, ([0-9]+) errors`)
	benchLatency = regexp.MustCompile(`p50 ([0-9.]+) .* p99 ([0-9.]+) .* max ([0-9.]+)`)
)

// benchProcess runs the normal clients: kvhttp bench reading random keys
// of the loaded keyspace for d, over conns connections.
func benchProcess(bin, addr string, conns int, d time.Duration) (*normalResult, error) {
	out, err := exec.Command(bin, "bench", "--addr", addr, "-t", "get", "-c", strconv.Itoa(conns),
		"-d", d.String(), "--keys", strconv.Itoa(benchKeys), "--no-load").Output()
	rate, lat := benchRate.FindSubmatch(out), benchLatency.FindSubmatch(out)
	if rate == nil || lat == nil {
		return nil, fmt.Errorf("kvhttp bench: %w: %s", err, out)
	}
	r := &normalResult{}
	r.perSecond, _ = strconv.ParseFloat(string(rate[1]), 64)
	r.errors, _ = strconv.ParseInt(string(rate[2]), 10, 64)
	r.p50, _ = strconv.ParseFloat(string(lat[1]), 64)
	r.p99, _ = strconv.ParseFloat(string(lat[2]), 64)
	r.max, _ = strconv.ParseFloat(string(lat[3]), 64)
	return r, nil
}

func run(bin string, s scenario, attackers, normal int, d time.Duration) (*result, error) {
	srv, addr, err := startServer(bin, s.serve)
	if err != nil {
		return nil, err
	}
	defer srv.stop()
	cfg := loadgen.Config{Addr: addr, Test: loadgen.TestGet, Conns: normal, Keys: benchKeys}
	if err := loadgen.Load(context.Background(), cfg); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	var (
		wg       sync.WaitGroup
		cut      atomic.Int64
		refused  atomic.Int64
		refusal  = &refusals{}
		normalCh = make(chan *normalResult, 1)
		errCh    = make(chan error, 1)
	)
	// The normal clients are another process (kvhttp bench), so that the
	// attackers' goroutines do not starve them in this one's scheduler.
	startNormal := func() {
		go func() {
			r, err := benchProcess(bin, addr, normal, d)
			if err != nil {
				errCh <- err
				return
			}
			normalCh <- r
		}()
	}
	peak := watchRSS(ctx, srv.cmd.Process.Pid)
	switch {
	case s.flood:
		startNormal() // the normal clients hold their connections first
		time.Sleep(300 * time.Millisecond)
		flood(ctx, &wg, addr, attackers, &refused, refusal)
	case s.attack != nil:
		for range attackers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				hold(ctx, addr, s.attack, &cut)
			}()
		}
		time.Sleep(2 * time.Second) // let the attack settle in
		startNormal()
	default:
		startNormal()
	}
	var res result
	select {
	case res.normal = <-normalCh:
	case err := <-errCh:
		cancel()
		wg.Wait()
		return nil, err
	}
	cancel()
	wg.Wait()
	res.peakRSS = peak()
	res.note = s.describe(cut.Load(), refused.Load(), &refusal.h)
	return &res, nil
}

// hold keeps one attacker connected: whenever the server cuts it, it dials
// again, until ctx ends.
func hold(ctx context.Context, addr string, attack func(context.Context, net.Conn) error, cut *atomic.Int64) {
	for ctx.Err() == nil {
		c, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
		if err != nil {
			time.Sleep(100 * time.Millisecond)
			continue
		}
		stop := context.AfterFunc(ctx, func() { c.Close() })
		err = attack(ctx, c)
		stop()
		c.Close()
		if ctx.Err() == nil && err != nil {
			cut.Add(1)
		}
	}
}

// trickle writes a head, then one more byte of rest every second.
func trickle(ctx context.Context, c net.Conn, head string, rest func(i int) string) error {
	if _, err := c.Write([]byte(head)); err != nil {
		return err
	}
	for i := 0; ctx.Err() == nil; i++ {
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
		c.SetWriteDeadline(time.Now().Add(time.Second))
		if _, err := c.Write([]byte(rest(i))); err != nil {
			return err
		}
		// A server that gave up has answered (408) or closed: notice it.
		c.SetReadDeadline(time.Now().Add(time.Millisecond))
		var b [1]byte
		if n, err := c.Read(b[:]); n > 0 || err != nil && !isTimeout(err) {
			return fmt.Errorf("cut")
		}
	}
	return nil
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func slowHeaders(ctx context.Context, c net.Conn) error {
	return trickle(ctx, c, "GET / HTTP/1.1\r\nHost: a\r\n", func(i int) string { return "X-" + strconv.Itoa(i) + ": v\r\n" })
}

func slowBody(ctx context.Context, c net.Conn) error {
	return trickle(ctx, c, "POST /import HTTP/1.1\r\nHost: a\r\nContent-Length: 1000000\r\n\r\n", func(int) string { return "k" })
}

// flooding writes head, then rest again and again as fast as the server
// reads, until the server refuses and closes.
func flooding(c net.Conn, head, rest string) error {
	if _, err := c.Write([]byte(head)); err != nil {
		return err
	}
	b := []byte(rest)
	for {
		if _, err := c.Write(b); err != nil {
			return err
		}
	}
}

// hugeHeaders sends a header section that never ends.
func hugeHeaders(ctx context.Context, c net.Conn) error {
	return flooding(c, "GET / HTTP/1.1\r\nHost: a\r\n", "X-Filler: "+strings.Repeat("h", 1000)+"\r\n")
}

// hugeLength declares a 1 GB body.
func hugeLength(ctx context.Context, c net.Conn) error {
	return flooding(c, "PUT /kv/huge HTTP/1.1\r\nHost: a\r\nContent-Length: 1000000000\r\n\r\n", strings.Repeat("b", 4096))
}

// endlessBody sends a chunked body that never ends.
func endlessBody(ctx context.Context, c net.Conn) error {
	return flooding(c, "POST /import HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
		"1000\r\n"+strings.Repeat("k", 4096)+"\r\n")
}

// slowReader pipelines 5,000 GETs, about 750 KB of responses (more than
// the socket buffers hold, so the server's writes block), and never reads
// one.
func slowReader(ctx context.Context, c net.Conn) error {
	req := strings.Repeat("GET /kv/bench000001 HTTP/1.1\r\nHost: a\r\n\r\n", 5000)
	c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write([]byte(req)); err != nil && !isTimeout(err) {
		return err
	}
	<-ctx.Done()
	return nil
}

// refusals records how long refused connections waited for their 503.
type refusals struct {
	mu sync.Mutex
	h  loadgen.Histogram
}

// flood fills the server's connection cap with idle connections, then
// keeps dialling past it, timing each refusal.
func flood(ctx context.Context, wg *sync.WaitGroup, addr string, n int, refused *atomic.Int64, r *refusals) {
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				start := time.Now()
				c, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
				if err != nil {
					time.Sleep(10 * time.Millisecond)
					continue
				}
				c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
				line, _ := bufio.NewReader(c).ReadString('\n')
				if strings.HasPrefix(line, "HTTP/1.1 503") {
					refused.Add(1)
					r.mu.Lock()
					r.h.Record(time.Since(start))
					r.mu.Unlock()
					c.Close()
					continue
				}
				<-ctx.Done() // admitted: hold the place
				c.Close()
			}
		}()
	}
}

// server is a kvhttp serve process.
type server struct {
	cmd *exec.Cmd
	dir string
}

var servingAddr = regexp.MustCompile(`msg=serving addr=(\S+)`)

func startServer(bin string, extra []string) (*server, string, error) {
	dir, err := os.MkdirTemp("", "kvhttp-hostile")
	if err != nil {
		return nil, "", err
	}
	args := append([]string{"serve", "--addr", "127.0.0.1:0", "--data", filepath.Join(dir, "data")}, extra...)
	cmd := exec.Command(bin, args...)
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		return nil, "", err
	}
	s := &server{cmd: cmd, dir: dir}
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		if m := servingAddr.FindStringSubmatch(sc.Text()); m != nil {
			go func() {
				for sc.Scan() { // keep draining the log
				}
			}()
			return s, m[1], nil
		}
	}
	s.stop()
	return nil, "", fmt.Errorf("the server did not start")
}

func (s *server) stop() {
	s.cmd.Process.Kill()
	s.cmd.Wait()
	os.RemoveAll(s.dir)
}

// watchRSS samples a process's resident memory every 100 ms until ctx
// ends; the returned function gives the peak.
func watchRSS(ctx context.Context, pid int) func() int64 {
	var peak atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			peak.Store(max(peak.Load(), rss(pid)))
			select {
			case <-ctx.Done():
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	return func() int64 {
		<-done
		return peak.Load()
	}
}

// rss reads VmRSS from /proc, in bytes.
func rss(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}
