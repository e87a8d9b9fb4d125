package client

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"kvhttp/internal/loopback"
	"kvhttp/server"
	"kvhttp/wire"
)

// readHead reads one request head, a byte at a time.
func readHead(c net.Conn) error {
	var got []byte
	b := make([]byte, 1)
	for !strings.HasSuffix(string(got), "\r\n\r\n") {
		if _, err := c.Read(b); err != nil {
			return err
		}
		got = append(got, b[0])
	}
	return nil
}

// kvServer serves h with this project's server on a loopback port.
func kvServer(t *testing.T, lim wire.Limits, h server.HandlerFunc) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &server.Server{Logger: slog.New(slog.DiscardHandler), Limits: lim, Handler: h}
	done := make(chan error, 1)
	go func() { done <- s.Serve(l) }()
	t.Cleanup(func() {
		s.Close()
		<-done
	})
	return l.Addr().String()
}

// TestCancelBetweenBodyReads: cancelling the context while the caller is
// between two reads of a body ends the next read at once, even with a
// ReadTimeout (each read sets its own deadline).
func TestCancelBetweenBodyReads(t *testing.T) {
	addr := loopback.Serve(t, func(c net.Conn) {
		readHead(c)
		c.Write([]byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\none\r\n"))
		for range 30 { // then a byte every 100 ms
			time.Sleep(100 * time.Millisecond)
			if _, err := c.Write([]byte("1\r\nx\r\n")); err != nil {
				return
			}
		}
	})
	cl := &Client{Addr: addr, ReadTimeout: 2 * time.Second}
	defer cl.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, body, err := cl.Open(ctx, &Request{Method: "GET", Target: "/"})
	if err != nil {
		t.Fatal(err)
	}
	defer body.Close()
	buf := make([]byte, 3)
	if _, err := io.ReadFull(body, buf); err != nil {
		t.Fatal(err)
	}
	cancel()
	time.Sleep(50 * time.Millisecond) // ctx's watch has run
	if n, err := body.Read(buf); n != 0 || !errors.Is(err, context.Canceled) {
		t.Errorf("read after cancel: got %d bytes, %v; want 0, %v", n, err, context.Canceled)
	}
}

// TestExpectTimeoutWithReadTimeout: the wait for 100 Continue is
// ExpectTimeout, however long ReadTimeout is.
func TestExpectTimeoutWithReadTimeout(t *testing.T) {
	bodyAfter := make(chan time.Duration, 1)
	addr := loopback.Serve(t, func(c net.Conn) {
		if readHead(c) != nil {
			return
		}
		start := time.Now()
		if _, err := io.ReadFull(c, make([]byte, 5)); err != nil { // never sends 100
			return
		}
		bodyAfter <- time.Since(start)
		c.Write([]byte("HTTP/1.1 204 No Content\r\n\r\n"))
	})
	cl := &Client{Addr: addr, ExpectTimeout: 100 * time.Millisecond, ReadTimeout: 5 * time.Second}
	defer cl.Close()
	req := &Request{Method: "PUT", Target: "/k", Body: []byte("hello")}
	req.Header.Add("Expect", "100-continue")
	resp, err := cl.Do(context.Background(), req)
	if err != nil || resp.Status != 204 {
		t.Fatalf("got %v, %v; want 204", resp, err)
	}
	if d := <-bodyAfter; d > 2*time.Second {
		t.Errorf("body sent %v after the head; want it after ExpectTimeout (100ms)", d.Round(time.Millisecond))
	}
}

// TestNoReuseAfterLateCancel: a context cancelled after its body was read
// but before Close may still interrupt the connection at any moment; the
// connection is not reused, so the next request cannot fail for it.
func TestNoReuseAfterLateCancel(t *testing.T) {
	s := serveScript(t, 1000, okAnswer)
	cl := &Client{Addr: s.addr}
	defer cl.Close()
	for range 20 {
		ctx, cancel := context.WithCancel(context.Background())
		_, body, err := cl.Open(ctx, &Request{Method: "GET", Target: "/"})
		if err != nil {
			t.Fatal(err)
		}
		io.ReadAll(body)
		cancel()
		body.Close()
		// A POST is never retried, so a spurious failure would show.
		if _, err := cl.Do(context.Background(), &Request{Method: "POST", Target: "/"}); err != nil {
			t.Fatalf("the request after a late cancel: got %v; want success", err)
		}
	}
}

// TestPipelineAndDoShareConns: Pipeline lets go of its context before it
// gives the connection back, which another call may take at once (run
// with -race).
func TestPipelineAndDoShareConns(t *testing.T) {
	s := serveScript(t, 1<<20, okAnswer)
	cl := &Client{Addr: s.addr, MaxIdleConns: 1}
	defer cl.Close()
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for range 300 {
				var err error
				if g%2 == 0 {
					_, err = cl.Pipeline(context.Background(), []*Request{{Method: "GET", Target: "/a"}})
				} else {
					_, err = cl.Do(context.Background(), &Request{Method: "GET", Target: "/b"})
				}
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// TestEarlyAnswer: a server that refuses a body too large answers and
// closes while the client still writes it; the client returns that
// answer rather than its write error.
func TestEarlyAnswer(t *testing.T) {
	addr := kvServer(t, wire.Limits{MaxBodyBytes: 1 << 10}, func(w *server.ResponseWriter, r *server.Request) {
		io.Copy(io.Discard, r.Body)
	})
	cl := &Client{Addr: addr}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := cl.Do(ctx, &Request{Method: "POST", Target: "/", Body: make([]byte, 8<<20)})
	if err != nil || resp.Status != 413 {
		t.Fatalf("got %v, %v; want the server's 413", resp, err)
	}
}

// TestNoRetryAfterTimeout: a request that timed out on a reused
// connection reached a server that is slow, not gone: it is not sent
// again, so a create-only PUT is not refused for the key it created.
func TestNoRetryAfterTimeout(t *testing.T) {
	var puts atomic.Int32
	addr := kvServer(t, wire.Limits{}, func(w *server.ResponseWriter, r *server.Request) {
		if r.Method != "PUT" {
			return
		}
		if puts.Add(1) > 1 {
			w.WriteHeader(412)
			return
		}
		time.Sleep(300 * time.Millisecond) // past the client's ReadTimeout
		w.WriteHeader(201)
	})
	cl := &Client{Addr: addr, ReadTimeout: 100 * time.Millisecond}
	defer cl.Close()
	if err := cl.Health(context.Background()); err != nil { // a connection to reuse
		t.Fatal(err)
	}
	_, err := cl.Create(context.Background(), "k", []byte("v"))
	if n := puts.Load(); n != 1 || errors.Is(err, ErrPreconditionFailed) {
		t.Errorf("got %d PUTs and %v; want 1 PUT and a timeout", n, err)
	}
}

// TestStaleIdleConn: an idle connection on which the server sent bytes
// nobody asked for (a 408 as it drops the connection) or its close is not
// used for the next request.
func TestStaleIdleConn(t *testing.T) {
	tests := []struct {
		name, after string
	}{
		{"unsolicited response", "HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"},
		{"close", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var conns atomic.Int32
			addr := loopback.Serve(t, func(c net.Conn) {
				conns.Add(1)
				if readHead(c) != nil {
					return
				}
				c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"))
				if tc.after == "" {
					return // closes
				}
				time.Sleep(20 * time.Millisecond)
				c.Write([]byte(tc.after))
				time.Sleep(time.Second)
			})
			cl := &Client{Addr: addr}
			defer cl.Close()
			if _, err := cl.Do(context.Background(), &Request{Method: "GET", Target: "/one"}); err != nil {
				t.Fatal(err)
			}
			time.Sleep(100 * time.Millisecond) // what the server sends arrives
			resp, err := cl.Do(context.Background(), &Request{Method: "POST", Target: "/two"})
			if err != nil || resp.Status != 200 || conns.Load() != 2 {
				t.Errorf("got %v, %v on %d connections; want 200 on a second connection", resp, err, conns.Load())
			}
		})
	}
}

// TestRetryOnNewConn: the retry of a request that failed on a reused
// connection goes on a new connection, not on another idle one, which
// may be as stale (the server dropped all its idle connections).
func TestRetryOnNewConn(t *testing.T) {
	s := serveScript(t, 1, okAnswer) // drops a connection's second request
	cl := &Client{Addr: s.addr}
	defer cl.Close()
	var wg sync.WaitGroup
	bodies := make(chan io.ReadCloser, 2)
	for range 2 { // two connections in the pool: two exchanges at once
		wg.Go(func() {
			_, body, err := cl.Open(context.Background(), &Request{Method: "GET", Target: "/"})
			if err != nil {
				t.Error(err)
				return
			}
			bodies <- body
		})
	}
	wg.Wait()
	close(bodies)
	for body := range bodies {
		io.ReadAll(body)
		body.Close()
	}
	if n := s.accepted.Load(); n != 2 {
		t.Fatalf("got %d connections; want 2 in the pool", n)
	}
	if _, err := cl.Do(context.Background(), &Request{Method: "GET", Target: "/"}); err != nil {
		t.Errorf("GET with the server up: got %v; want success on a new connection", err)
	}
}
