package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Tests of how connections served with deferred responses and the event
// loop end: a client that goes away, Shutdown, Close, idleness and
// timeouts; and of many connections at once and of other kinds of
// connection. The deferring handler and the helpers are in loop_test.go.

// connGoroutines counts the goroutines serving connections, of every
// server in the process.
func connGoroutines() int {
	k := 0
	for _, g := range bytes.Split(allStacks(), []byte("\n\n")) {
		if bytes.Contains(g, []byte("kvhttp/server.(*conn).")) {
			k++
		}
	}
	return k
}

// TestDeferredClientGoes: a client that goes away while its answer is
// deferred costs the server nothing once the answer is done: the
// connection ends, its goroutines too, and Close returns.
func TestDeferredClientGoes(t *testing.T) {
	tests := []struct {
		name  string
		warm  bool   // in the loop before
		extra string // sent after the held request
		reset bool   // close with a reset
	}{
		{"on its goroutine", false, "", false},
		{"in the loop", true, "", false},
		{"on its goroutine, more sent", false, put("/later/more", "more"), false},
		{"in the loop, more sent", true, put("/later/more", "more") + get("/get/more"), false},
		{"on its goroutine, reset", false, "", true},
		{"in the loop, reset", true, "", true},
		{"in the loop, half a request sent", true, "PUT /later/half HTTP/1.1\r\nHo", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newDeferring()
			s, addr := startDeferring(t, h, nil)
			c := dialClient(t, addr)
			if tc.warm {
				c.warm(t, s)
			}
			if err := c.send(put("/hold/1", "held") + tc.extra); err != nil {
				t.Fatal(err)
			}
			h.waitHeld(t, 1)
			if tc.reset {
				c.nc.(*net.TCPConn).SetLinger(0)
			}
			c.nc.Close()
			time.Sleep(20 * time.Millisecond) // let the close arrive before the answer
			h.releaseAll()
			waitFor(t, "the connection to end", func() bool { return s.connCount() == 0 })
			waitFor(t, "its goroutines to end", func() bool { return connGoroutines() == 0 })
			if !closeWithin(s, 5*time.Second) {
				t.Fatalf("Close: still waiting after 5 s; goroutines:\n%s", allStacks())
			}
		})
	}
}

// TestDeferredShutdown: Shutdown closes idle connections, those in the
// loop too, and waits for deferred answers, which go with
// "Connection: close", before it returns nil.
func TestDeferredShutdown(t *testing.T) {
	h := newDeferring()
	s, addr := startDeferring(t, h, nil)
	var idle []*client
	for range 5 {
		c := dialClient(t, addr)
		c.warm(t, s)
		idle = append(idle, c)
	}
	fresh := dialClient(t, addr) // its answer deferred on its goroutine
	looped := dialClient(t, addr)
	looped.warm(t, s) // its answer deferred in the loop
	if err := fresh.send(put("/hold/fresh", "fresh")); err != nil {
		t.Fatal(err)
	}
	if err := looped.send(put("/hold/looped", "looped") + put("/later/never", "never")); err != nil {
		t.Fatal(err)
	}
	h.waitHeld(t, 2)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- s.Shutdown(ctx) }()
	for i, c := range idle {
		if err := c.closed(); err != nil {
			t.Errorf("idle connection %d: %v; want it closed by Shutdown", i, err)
		}
	}
	select {
	case err := <-done:
		t.Fatalf("Shutdown returned %v before the deferred answers went", err)
	case <-time.After(100 * time.Millisecond):
	}
	h.releaseAll()
	for _, tc := range []struct {
		c    *client
		want reply
	}{
		{fresh, reply{Status: 201, Via: via(s, "try"), Path: "/hold/fresh", Body: "fresh", Close: true}},
		{looped, reply{Status: 201, Via: via(s, "loop"), Path: "/hold/looped", Body: "looped", Close: true}},
	} {
		got, err := tc.c.read()
		if err != nil || !got.matches(tc.want) {
			t.Errorf("got %+v, %v; want %+v", got, err, tc.want)
			continue
		}
		if err := tc.c.closed(); err != nil {
			t.Errorf("%s: %v; want the connection closed after the answer", tc.want.Path, err)
		}
	}
	if err := <-done; err != nil {
		t.Errorf("Shutdown: got %v; want nil", err)
	}
	if n := s.connCount(); n != 0 {
		t.Errorf("after Shutdown: got %d connections; want 0", n)
	}
}

// TestDeferredClose: Close closes idle connections, those in the loop
// too, cancels the contexts of requests whose answers are deferred, and
// returns once the deferred answers are done, leaving no goroutine
// behind.
func TestDeferredClose(t *testing.T) {
	h := newDeferring()
	s, addr := startDeferring(t, h, nil)
	idle := dialClient(t, addr)
	idle.warm(t, s)
	fresh := dialClient(t, addr)
	looped := dialClient(t, addr)
	looped.warm(t, s)
	waiting := dialClient(t, addr) // its handler answers once the context is done
	waiting.warm(t, s)
	if err := fresh.send(put("/hold/fresh", "fresh")); err != nil {
		t.Fatal(err)
	}
	if err := looped.send(put("/hold/looped", "looped")); err != nil {
		t.Fatal(err)
	}
	if err := waiting.send(put("/ctx/waiting", "")); err != nil {
		t.Fatal(err)
	}
	h.waitHeld(t, 3)

	done := make(chan struct{})
	go func() {
		s.Close()
		close(done)
	}()
	if err := idle.closed(); err != nil {
		t.Errorf("idle connection: %v; want it closed by Close", err)
	}
	select {
	case <-done:
		t.Fatal("Close returned before the held answers were done")
	case <-time.After(100 * time.Millisecond):
	}
	h.releaseAll()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatalf("Close: still waiting 5 s after the answers were done; goroutines:\n%s", allStacks())
	}
	if n := h.cancelled.Load(); n != 1 {
		t.Errorf("got %d handlers seeing their context done; want 1", n)
	}
	for name, c := range map[string]*client{"fresh": fresh, "looped": looped, "waiting": waiting} {
		c.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.ReadAll(c.br); err != nil && !errors.Is(err, syscall.ECONNRESET) {
			t.Errorf("%s: got %v; want the connection closed", name, err)
		}
	}
	if n := s.connCount(); n != 0 {
		t.Errorf("after Close: got %d connections; want 0", n)
	}
	waitFor(t, "the connections' goroutines to end", func() bool { return connGoroutines() == 0 })
}

// TestDeferredCloseClosesSockets: once Close has been called, every
// client sees its connection closed, even one whose answer is still
// deferred.
func TestDeferredCloseClosesSockets(t *testing.T) {
	for _, warm := range []bool{false, true} {
		t.Run(fmt.Sprintf("warm=%v", warm), func(t *testing.T) {
			h := newDeferring()
			s, addr := startDeferring(t, h, nil)
			c := dialClient(t, addr)
			if warm {
				c.warm(t, s)
			}
			if err := c.send(put("/hold/1", "held")); err != nil {
				t.Fatal(err)
			}
			h.waitHeld(t, 1)
			go s.Close() // returns once released, at the end
			c.nc.SetReadDeadline(time.Now().Add(2 * time.Second))
			if b, err := io.ReadAll(c.br); err != nil && !errors.Is(err, syscall.ECONNRESET) {
				t.Errorf("got %q, %v; want the connection closed while its answer is held", b, err)
			}
		})
	}
}

// TestLoopManyConns: many connections, each sending many requests one
// at a time, mostly deferred, all get their answers.
func TestLoopManyConns(t *testing.T) {
	h := newDeferring()
	h.delay = 0
	s, addr := startDeferring(t, h, nil)
	const conns, requests = 50, 200
	clients := make([]*client, conns)
	for i := range clients {
		clients[i] = dialClient(t, addr)
	}
	var wg sync.WaitGroup
	for n, c := range clients {
		wg.Go(func() {
			for i := range requests {
				kind := "later"
				switch {
				case i%20 == 10:
					kind = "get"
				case i%7 == 3:
					kind = "early"
				case i%11 == 5:
					kind = "race"
				}
				raw, want := request(kind, n*requests+i)
				got, err := c.roundTrip(raw)
				if err != nil {
					t.Errorf("connection %d, request %d: %v", n, i, err)
					return
				}
				if !got.matches(want) {
					t.Errorf("connection %d, request %d: got %+v; want %+v", n, i, got, want)
					return
				}
			}
		})
	}
	wg.Wait()
	if !looping(s) {
		return
	}
	// The connections are idle in the loop's epoll set now.
	waitFor(t, "every connection to park", func() bool { return s.parker.count() == conns })
}

// TestLoopIdleEnds: a connection idle in the loop ends when its client
// closes or half-closes it, or at its idle timeout, leaving nothing
// behind.
func TestLoopIdleEnds(t *testing.T) {
	tests := []struct {
		name string
		end  func(c *client)
	}{
		{"client closes", func(c *client) { c.nc.Close() }},
		{"client half-closes", func(c *client) { c.nc.(*net.TCPConn).CloseWrite() }},
		{"client resets", func(c *client) {
			c.nc.(*net.TCPConn).SetLinger(0)
			c.nc.Close()
		}},
		{"idle timeout", func(*client) {}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, addr := startDeferring(t, newDeferring(), func(s *Server) { s.IdleTimeout = 300 * time.Millisecond })
			c := dialClient(t, addr)
			c.warm(t, s)
			if looping(s) {
				waitFor(t, "the connection to park in the loop", func() bool { return s.parker.count() == 1 })
			}
			tc.end(c)
			waitFor(t, "the connection to end", func() bool { return s.connCount() == 0 })
			waitFor(t, "its goroutines to end", func() bool { return connGoroutines() == 0 })
			if tc.name != "client closes" && tc.name != "client resets" {
				if err := c.closed(); err != nil {
					t.Errorf("got %v; want the connection closed", err)
				}
			}
		})
	}
}

// TestLoopTimeouts: the loop sets no deadlines, but a request that
// arrives too slowly on a connection in the loop still times out (408),
// and a client that does not read a large deferred answer is still
// dropped at the write timeout.
func TestLoopTimeouts(t *testing.T) {
	tests := []struct {
		name   string
		raw    string
		status int // 0: dropped without an answer
	}{
		{"head", "PUT /later/slow HTTP/1.1\r\nHost: x\r\nContent-Le", 408},
		{"body", "PUT /later/slow HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nslow", 408},
		{"answer not read", put("/big/1", strconv.Itoa(16<<20)), 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, addr := startDeferring(t, newDeferring(), func(s *Server) {
				s.ReadHeaderTimeout = 200 * time.Millisecond
				s.ReadTimeout = 200 * time.Millisecond
				s.WriteTimeout = 200 * time.Millisecond
			})
			c := dialClient(t, addr)
			if err := c.nc.(*net.TCPConn).SetReadBuffer(32 << 10); err != nil {
				t.Fatal(err)
			}
			c.warm(t, s)
			if err := c.send(tc.raw); err != nil {
				t.Fatal(err)
			}
			if tc.status == 0 {
				waitFor(t, "the connection to be dropped", func() bool { return s.connCount() == 0 })
				return
			}
			c.mustBeRefused(t, tc.status)
		})
	}
}

// TestLoopOtherConns: connections the server cannot read and write with
// raw system calls (here, ones wrapped to count writes) are never offered
// to TryServeHTTP: ServeHTTP answers all; a Unix socket's go through the
// loop as TCP ones do.
func TestLoopOtherConns(t *testing.T) {
	tests := []struct {
		name   string
		listen func(t *testing.T) net.Listener
		loop   bool // served by the loop, where there is one
	}{
		{"wrapped", func(t *testing.T) net.Listener {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			return &countingListener{Listener: l}
		}, false},
		{"unix", func(t *testing.T) net.Listener {
			l, err := net.Listen("unix", t.TempDir()+"/s")
			if err != nil {
				t.Skipf("no Unix sockets: %v", err)
			}
			return l
		}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := tc.listen(t)
			s := serveDeferring(t, l, newDeferring(), nil)
			nc, err := net.Dial(l.Addr().Network(), l.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			c := newClient(t, nc)
			steps := []struct{ kind, via string }{
				{"later", "try"},
				{"later", "loop"},
				{"early", "loop"},
				{"get", "serve"},
				{"later", "try"},
				{"later", "loop"},
				{"get", "serve"},
			}
			for round := range 3 {
				for i, step := range steps {
					raw, want := request(step.kind, round*100+i)
					if want.Via = via(s, step.via); !tc.loop {
						want.Via = "serve"
					}
					c.mustRoundTrip(t, raw, want)
				}
			}
			var raw strings.Builder
			var wants []reply
			for i := range 2 * bulkAfter {
				r, want := request([]string{"later", "get", "race", "sync"}[i%4], 1000+i)
				raw.WriteString(r)
				wants = append(wants, want)
			}
			if err := c.send(raw.String()); err != nil {
				t.Fatal(err)
			}
			for i, want := range wants {
				if got, err := c.read(); err != nil || !got.matches(want) {
					t.Fatalf("pipelined response %d: got %+v, %v; want %+v", i, got, err, want)
				}
			}
		})
	}
}
