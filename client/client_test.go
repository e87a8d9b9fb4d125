package client

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"kvhttp/internal/loopback"
)

// script is a hand-written server: for each accepted connection it reads
// one request head and body-less exchange per answer and writes the
// answer; after `perConn` answers it reads the next request's head and
// closes the connection without answering, as a server does that closes
// an idle connection just as a request arrives.
type script struct {
	addr     string
	accepted atomic.Int64
	requests atomic.Int64
}

func serveScript(t *testing.T, perConn int, answer string) *script {
	t.Helper()
	s := &script{}
	readHead := func(c net.Conn, buf []byte) bool {
		for got := ""; !strings.Contains(got, "\r\n\r\n"); {
			n, err := c.Read(buf)
			if err != nil {
				return false
			}
			got += string(buf[:n])
		}
		s.requests.Add(1)
		return true
	}
	s.addr = loopback.Serve(t, func(c net.Conn) {
		s.accepted.Add(1)
		buf := make([]byte, 4096)
		for range perConn {
			if !readHead(c, buf) {
				return
			}
			c.Write([]byte(answer))
		}
		readHead(c, buf) // seen, never answered
	})
	return s
}

const okAnswer = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"

func TestReuse(t *testing.T) {
	s := serveScript(t, 100, okAnswer)
	c := &Client{Addr: s.addr}
	defer c.Close()
	for range 5 {
		resp, err := c.Do(context.Background(), &Request{Method: "GET", Target: "/"})
		if err != nil || resp.Status != 200 || string(resp.Body) != "ok" {
			t.Fatalf("got %v, %v", resp, err)
		}
	}
	if n := s.accepted.Load(); n != 1 {
		t.Errorf("got %d connections for 5 requests; want 1", n)
	}
}

// TestRetry: a request on a reused connection that the server closes as
// the request arrives is retried on a new connection if it is
// idempotent, never if it is a POST.
func TestRetry(t *testing.T) {
	for _, tc := range []struct {
		method  string
		retried bool
	}{{"GET", true}, {"PUT", true}, {"POST", false}} {
		s := serveScript(t, 1, okAnswer) // closes after each answer
		c := &Client{Addr: s.addr}
		if _, err := c.Do(context.Background(), &Request{Method: tc.method, Target: "/"}); err != nil {
			t.Fatal(err)
		}
		_, err := c.Do(context.Background(), &Request{Method: tc.method, Target: "/"})
		if tc.retried && err != nil {
			t.Errorf("%s: got %v; want a retry on a new connection", tc.method, err)
		}
		if !tc.retried && err == nil {
			t.Errorf("%s: got a retry; want an error", tc.method)
		}
		// The first, answered; the second, dropped; its retry, answered.
		if want := map[bool]int64{true: 3, false: 2}[tc.retried]; s.requests.Load() != want {
			t.Errorf("%s: server saw %d requests; want %d", tc.method, s.requests.Load(), want)
		}
		c.Close()
	}
}

func TestDeadline(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() { // accepts and never answers
		c, err := l.Accept()
		if err == nil {
			io.Copy(io.Discard, c)
		}
	}()
	c := &Client{Addr: l.Addr().String()}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := c.Do(ctx, &Request{Method: "GET", Target: "/"}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("got %v; want %v", err, context.DeadlineExceeded)
	}
}

func TestClosed(t *testing.T) {
	c := &Client{Addr: "127.0.0.1:1"}
	c.Close()
	if _, err := c.Do(context.Background(), &Request{Method: "GET", Target: "/"}); !errors.Is(err, ErrClosed) {
		t.Errorf("got %v; want %v", err, ErrClosed)
	}
}
