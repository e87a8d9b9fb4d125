// Command idle measures a server's memory per idle keep-alive connection.
// It reads the server's resident set (VmRSS in /proc/PID/status), opens -n
// TCP connections, sends one GET /kv/bench000001 on each and reads the full
// answer, then leaves them all open and idle. After -settle it reads the
// resident set again and prints one line:
//
//	idle conns=N rss_before_kib=B rss_after_kib=A rss_peak_kib=P per_conn_bytes=X
//
// where X = (A-B)*1024/N and P is the highest resident set seen sampling
// every 500 ms from the first dial to the end of the settle time. It fails
// if any connection was refused, answered other than 200, or closed by the
// server before the end. The key must exist (cmd/load writes it).
//
//	idle -addr 127.0.0.1:PORT -pid PID [-n 10000] [-settle 5s]
package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

const request = "GET /kv/bench000001 HTTP/1.1\r\nHost: x\r\n\r\n"

// dialers is how many connections are opened at once.
const dialers = 200

func main() {
	addr := flag.String("addr", "", "server address host:port (required)")
	pid := flag.Int("pid", 0, "server process id (required)")
	n := flag.Int("n", 10000, "idle connections to hold")
	settle := flag.Duration("settle", 5*time.Second, "wait before the second reading")
	flag.Parse()
	if *addr == "" || *pid <= 0 || *n < 1 || *settle < 0 {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(*addr, *pid, *n, *settle); err != nil {
		fmt.Fprintln(os.Stderr, "idle:", err)
		os.Exit(1)
	}
}

func run(addr string, pid, n int, settle time.Duration) error {
	if err := raiseNoFile(); err != nil {
		return err
	}
	before, err := rssKiB(pid)
	if err != nil {
		return err
	}
	sampler := startSampler(pid)
	conns, err := openAll(addr, n)
	defer func() {
		for _, c := range conns {
			if c != nil {
				_ = c.Close()
			}
		}
	}()
	if err != nil {
		sampler.stop()
		return err
	}
	time.Sleep(settle)
	after, err := rssKiB(pid)
	peak := sampler.stop()
	if err != nil {
		return err
	}
	if closed := countClosed(conns); closed > 0 {
		return fmt.Errorf("%d of %d connections were closed by the server", closed, n)
	}
	fmt.Printf("idle conns=%d rss_before_kib=%d rss_after_kib=%d rss_peak_kib=%d per_conn_bytes=%d\n",
		n, before, after, max(peak, after), (after-before)*1024/int64(n))
	return nil
}

// raiseNoFile lifts the soft limit on open files to the hard limit.
func raiseNoFile() error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("getrlimit: %w", err)
	}
	lim.Cur = lim.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("setrlimit: %w", err)
	}
	return nil
}

// rssKiB reads VmRSS of process pid, in KiB.
func rssKiB(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("read rss: %w", err)
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kib, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("parse VmRSS %q: %w", rest, err)
			}
			return kib, nil
		}
	}
	return 0, fmt.Errorf("no VmRSS for pid %d", pid)
}

// openAll opens n connections, dialers at a time, each with one answered
// request. It returns every connection it opened, even on error.
func openAll(addr string, n int) ([]net.Conn, error) {
	conns := make([]net.Conn, n)
	errs := make([]error, dialers)
	next := make(chan int)
	var wg sync.WaitGroup
	for w := range dialers {
		wg.Go(func() {
			for i := range next {
				if errs[w] != nil {
					continue // drain
				}
				conns[i], errs[w] = open(addr)
				if errs[w] != nil {
					errs[w] = fmt.Errorf("connection %d: %w", i, errs[w])
				}
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	return conns, errors.Join(errs...)
}

// open dials addr, sends the request and reads its whole answer.
func open(addr string) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	err = exchange(c)
	if err == nil {
		err = c.SetDeadline(time.Time{})
	}
	if err != nil {
		_ = c.Close()
		return nil, err
	}
	return c, nil
}

func exchange(c net.Conn) error {
	if err := c.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		return fmt.Errorf("set deadline: %w", err)
	}
	if _, err := io.WriteString(c, request); err != nil {
		return fmt.Errorf("send: %w", err)
	}
	br := bufio.NewReaderSize(c, 512)
	status, err := br.ReadString('\n')
	if err != nil {
		return fmt.Errorf("read status: %w", err)
	}
	if !strings.HasPrefix(status, "HTTP/1.1 200 ") {
		return fmt.Errorf("answer %q, want 200", strings.TrimSpace(status))
	}
	length := int64(-1)
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return fmt.Errorf("read header: %w", err)
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			break
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if ok && strings.EqualFold(string(name), "content-length") {
			length, err = strconv.ParseInt(string(bytes.TrimSpace(value)), 10, 64)
			if err != nil || length < 0 {
				return fmt.Errorf("bad Content-Length %q", value)
			}
		}
	}
	if length < 0 {
		return errors.New("answer without Content-Length")
	}
	if _, err := io.CopyN(io.Discard, br, length); err != nil {
		return fmt.Errorf("read body: %w", err)
	}
	if br.Buffered() > 0 {
		return errors.New("bytes after the answer")
	}
	return nil
}

// countClosed reports how many connections the server has closed (or
// written to): an idle, open one has nothing to read. It peeks without
// blocking, so it takes no time per connection.
func countClosed(conns []net.Conn) int {
	closed := 0
	var one [1]byte
	for _, c := range conns {
		tc, ok := c.(*net.TCPConn)
		if !ok {
			closed++
			continue
		}
		rc, err := tc.SyscallConn()
		if err != nil {
			closed++
			continue
		}
		idle := false
		err = rc.Read(func(fd uintptr) bool {
			_, _, rerr := syscall.Recvfrom(int(fd), one[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
			idle = errors.Is(rerr, syscall.EAGAIN)
			return true // one look, never wait
		})
		if err != nil || !idle {
			closed++
		}
	}
	return closed
}

// sampler polls a process's resident set every 500 ms and keeps the peak.
type sampler struct {
	done chan struct{}
	peak chan int64
}

func startSampler(pid int) *sampler {
	s := &sampler{done: make(chan struct{}), peak: make(chan int64, 1)}
	go func() {
		var peak int64
		tick := time.NewTicker(500 * time.Millisecond)
		defer tick.Stop()
		for {
			if kib, err := rssKiB(pid); err == nil {
				peak = max(peak, kib)
			}
			select {
			case <-tick.C:
			case <-s.done:
				s.peak <- peak
				return
			}
		}
	}()
	return s
}

// stop ends sampling and returns the peak seen.
func (s *sampler) stop() int64 {
	close(s.done)
	return <-s.peak
}
