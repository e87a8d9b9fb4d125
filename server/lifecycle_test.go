package server

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

func TestReadHeaderTimeout(t *testing.T) {
	_, addr := start(t, echo, func(s *Server) { s.ReadHeaderTimeout = 200 * time.Millisecond })
	c := dial(t, addr)
	c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n"))
	// Trickle bytes: each one must not extend the deadline.
	for range 3 {
		time.Sleep(100 * time.Millisecond)
		c.Write([]byte("X"))
	}
	got, closed := readFor(c, 2*time.Second)
	if !strings.HasPrefix(got, "HTTP/1.1 408 ") || !closed {
		t.Errorf("got %q (closed %v); want 408, closed", got, closed)
	}
}

func TestReadTimeoutForBody(t *testing.T) {
	_, addr := start(t, echo, func(s *Server) { s.ReadTimeout = 200 * time.Millisecond })
	got, closed := exchange(t, addr, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nslow", 2*time.Second)
	if !strings.HasPrefix(got, "HTTP/1.1 408 ") || !closed {
		t.Errorf("got %q (closed %v); want 408, closed", got, closed)
	}
}

func TestIdleTimeout(t *testing.T) {
	_, addr := start(t, echo, func(s *Server) { s.IdleTimeout = 200 * time.Millisecond })
	got, closed := exchange(t, addr, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 2*time.Second)
	if !strings.HasSuffix(got, "GET / ") || !closed {
		t.Errorf("got %q (closed %v); want a response, then a quiet close", got, closed)
	}
	if strings.Contains(got, "408") {
		t.Errorf("got %q; an idle connection is closed without a response", got)
	}
}

// TestIdleTimeoutRenewed: the idle deadline, kept between requests while
// it is less than 1/8 of its timeout old, is renewed in time: requests
// spaced well within the idle timeout keep the connection open for many
// timeouts, and the timeout still ends it once the client stops.
func TestIdleTimeoutRenewed(t *testing.T) {
	_, addr := start(t, echo, func(s *Server) { s.IdleTimeout = 200 * time.Millisecond })
	c := dial(t, addr)
	for i := range 12 { // 12 x 50 ms: three idle timeouts
		if _, err := c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
			t.Fatalf("request %d: write: %v", i, err)
		}
		if got, closed := readFor(c, 30*time.Millisecond); !strings.HasPrefix(got, "HTTP/1.1 200 ") || closed {
			t.Fatalf("request %d: got %q (closed %v); want 200, open", i, got, closed)
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := c.Read(make([]byte, 1)); n != 0 || !errors.Is(err, io.EOF) {
		t.Errorf("after the client stopped: got %d, %v; want the server to close (EOF)", n, err)
	}
}

// TestWriteTimeout: a client that never reads its responses is dropped
// rather than holding the connection's goroutine.
func TestWriteTimeout(t *testing.T) {
	entered := make(chan struct{}, 1)
	big := HandlerFunc(func(w *ResponseWriter, r *Request) {
		select {
		case entered <- struct{}{}:
		default:
		}
		w.Write(make([]byte, 1<<20))
	})
	s, addr := start(t, big, func(s *Server) { s.WriteTimeout = 200 * time.Millisecond })
	c := dial(t, addr)
	c.Write([]byte(strings.Repeat("GET / HTTP/1.1\r\nHost: x\r\n\r\n", 64)))
	<-entered // the connection is the server's: a count of 0 is not too early
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if s.connCount() == 0 {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Error("the connection of a client that does not read was not dropped")
}

// TestMaxConns: past the cap, connections get 503 at once while the
// existing ones keep being served.
func TestMaxConns(t *testing.T) {
	_, addr := start(t, echo, func(s *Server) { s.MaxConns = 2 })
	a, b := dial(t, addr), dial(t, addr)
	for _, c := range []net.Conn{a, b} {
		c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
		if got, _ := readFor(c, quiet); !strings.HasPrefix(got, "HTTP/1.1 200 ") {
			t.Fatalf("got %q; want 200", got)
		}
	}
	got, closed := exchange(t, addr, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", quiet)
	if !strings.HasPrefix(got, "HTTP/1.1 503 ") || !closed || !strings.Contains(got, "\r\nDate: ") {
		t.Errorf("third connection: got %q (closed %v); want 503, closed", got, closed)
	}
	a.Write([]byte("GET /still HTTP/1.1\r\nHost: x\r\n\r\n"))
	if got, _ := readFor(a, quiet); !strings.HasSuffix(got, "GET /still ") {
		t.Errorf("existing connection: got %q; want it served", got)
	}
}

// TestShutdown: idle connections close at once, a request in progress
// finishes with "Connection: close", then Shutdown returns.
func TestShutdown(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	slow := HandlerFunc(func(w *ResponseWriter, r *Request) {
		if string(r.Path) == "/slow" {
			close(entered)
			<-release
		}
		w.WriteString("done")
	})
	s, addr := start(t, slow, nil)
	idle := dial(t, addr)
	idle.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
	readFor(idle, quiet)
	busy := dial(t, addr)
	busy.Write([]byte("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n"))
	<-entered

	done := make(chan error, 1)
	go func() { done <- s.Shutdown(context.Background()) }()
	if _, closed := readFor(idle, 2*time.Second); !closed {
		t.Error("idle connection: still open during shutdown")
	}
	if _, err := net.Dial("tcp", addr); err == nil {
		t.Error("a new connection was accepted during shutdown")
	}
	select {
	case err := <-done:
		t.Fatalf("Shutdown returned %v before the request finished", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	got, closed := readFor(busy, 2*time.Second)
	if !strings.Contains(got, "Connection: close\r\n") || !strings.HasSuffix(got, "done") || !closed {
		t.Errorf("request in progress: got %q (closed %v); want it finished with Connection: close", got, closed)
	}
	if err := <-done; err != nil {
		t.Errorf("Shutdown: got %v; want nil", err)
	}
}

func TestShutdownDeadline(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	defer close(release)
	stuck := HandlerFunc(func(w *ResponseWriter, r *Request) {
		close(entered)
		<-release
	})
	s, addr := start(t, stuck, nil)
	dial(t, addr).Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
	<-entered
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := s.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("got %v; want %v", err, context.DeadlineExceeded)
	}
}

func TestCloseIsIdempotent(t *testing.T) {
	s := &Server{Handler: echo}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: got %v; want nil", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Serve(l); !errors.Is(err, ErrServerClosed) {
		t.Errorf("Serve after Close: got %v; want %v", err, ErrServerClosed)
	}
}

// TestCloseCancelsRequests: Close cancels the context of requests in
// progress and waits for their goroutines.
func TestCloseCancelsRequests(t *testing.T) {
	entered := make(chan struct{})
	waits := HandlerFunc(func(w *ResponseWriter, r *Request) {
		close(entered)
		<-r.Context().Done()
	})
	s, addr := start(t, waits, nil)
	dial(t, addr).Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
	<-entered
	s.Close()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.conns) != 0 {
		t.Errorf("got %d connections after Close; want 0", len(s.conns))
	}
}
