package server

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// streamer writes three pieces, flushing after each; on /abort it gives up
// after the second, on /panic it panics there. On /redo it first drafts
// another response and aborts it before anything is sent.
var streamer = HandlerFunc(func(w *ResponseWriter, r *Request) {
	if string(r.Path) == "/redo" {
		w.Header().Add("X-Draft", "1")
		w.WriteHeader(201)
		w.WriteString("draft")
		w.Abort()
	}
	w.Header().Add("Content-Type", "text/plain")
	for i, piece := range []string{"one ", "two ", "three"} {
		if i == 2 {
			switch string(r.Path) {
			case "/abort":
				w.Abort()
				return
			case "/panic":
				panic("source failed")
			}
		}
		w.WriteString(piece)
		if err := w.Flush(); err != nil {
			return
		}
	}
	w.WriteString(" and the rest")
})

func TestStreaming(t *testing.T) {
	_, addr, cl := startCounting(t, streamer, nil)
	tests := []struct {
		name, raw, want string
		closed          bool
	}{
		{"chunked", "GET / HTTP/1.1\r\nHost: x\r\n\r\n",
			"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nDate: *\r\nTransfer-Encoding: chunked\r\n\r\n" +
				"4\r\none \r\n4\r\ntwo \r\n5\r\nthree\r\nd\r\n and the rest\r\n0\r\n\r\n", false},
		{"http/1.0: until close", "GET / HTTP/1.0\r\n\r\n",
			"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nDate: *\r\nConnection: close\r\n\r\none two three and the rest", true},
		{"head", "HEAD / HTTP/1.1\r\nHost: x\r\n\r\n",
			"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nDate: *\r\nTransfer-Encoding: chunked\r\n\r\n", false},
		{"abort: no last chunk", "GET /abort HTTP/1.1\r\nHost: x\r\n\r\n",
			"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nDate: *\r\nTransfer-Encoding: chunked\r\n\r\n" +
				"4\r\none \r\n4\r\ntwo \r\n", true},
		{"abort before a flush: a fresh start", "GET /redo HTTP/1.1\r\nHost: x\r\n\r\n",
			"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nDate: *\r\nTransfer-Encoding: chunked\r\n\r\n" +
				"4\r\none \r\n4\r\ntwo \r\n5\r\nthree\r\nd\r\n and the rest\r\n0\r\n\r\n", false},
		{"panic: no last chunk", "GET /panic HTTP/1.1\r\nHost: x\r\n\r\n",
			"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nDate: *\r\nTransfer-Encoding: chunked\r\n\r\n" +
				"4\r\none \r\n4\r\ntwo \r\n", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, closed := exchange(t, addr, tc.raw, quiet)
			if undate(got) != tc.want || closed != tc.closed {
				t.Errorf("got %q (closed %v); want %q (closed %v)", undate(got), closed, tc.want, tc.closed)
			}
		})
	}
	if n := cl.writes.Load(); n < 10 {
		t.Errorf("got %d writes in all; want one per Flush at least", n)
	}
}

// TestStreamAfterPipelined: a streamed response follows the responses
// pipelined before it, in order.
func TestStreamAfterPipelined(t *testing.T) {
	_, addr := start(t, HandlerFunc(func(w *ResponseWriter, r *Request) {
		w.WriteString(string(r.Path))
		if string(r.Path) == "/stream" {
			w.Flush()
			w.WriteString("!")
		}
	}), nil)
	got, _ := exchange(t, addr, "GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /stream HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n", quiet)
	a, s, b := strings.Index(got, "\r\n\r\n/a"), strings.Index(got, "7\r\n/stream\r\n1\r\n!\r\n0\r\n\r\n"), strings.Index(got, "\r\n\r\n/b")
	if a < 0 || s < a || b < s {
		t.Errorf("got %q; want /a, then the streamed /stream, then /b", got)
	}
}

// TestFailedFlushCloses: once a Flush fails, part of a chunk may be all
// that went out, so nothing may follow it: no later chunk, no last chunk,
// no next response, even from a handler that ignores the error; the
// connection closes.
func TestFailedFlushCloses(t *testing.T) {
	tests := []struct {
		name     string
		stopOnce bool
	}{
		{"handler stops", true},
		{"handler ignores the error", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			flushErrs := make(chan error, 3)
			s := &Server{Logger: slog.New(slog.DiscardHandler), Handler: HandlerFunc(func(w *ResponseWriter, r *Request) {
				for _, piece := range []string{"a", "b", "c"} {
					w.WriteString(strings.Repeat(piece, 100))
					err := w.Flush()
					flushErrs <- err
					if err != nil && tc.stopOnce {
						return
					}
				}
			})}
			done := make(chan error, 1)
			go func() { done <- s.Serve(&halfWriteListener{Listener: l}) }()
			t.Cleanup(func() {
				s.Close()
				<-done
			})
			got, closed := exchange(t, l.Addr().String(),
				"GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n", quiet)
			if !closed || strings.Contains(got, "ccc") || strings.Contains(got, "0\r\n\r\n") || strings.Count(got, "HTTP/1.1 ") != 1 {
				t.Errorf("got %q (closed %v); want one response, cut off in its second chunk, and the connection closed", got, closed)
			}
			if !tc.stopOnce {
				var errs []error
				for range 3 {
					errs = append(errs, <-flushErrs)
				}
				if errs[0] != nil || errs[1] == nil || !errors.Is(errs[2], ErrAborted) {
					t.Errorf("got Flush errors %v; want nil, the write's error, %v", errs, ErrAborted)
				}
			}
		})
	}
}

// TestAbortResetsHTTP10: to an HTTP/1.0 client a streamed body ends with
// the connection, so an aborted one ends with a reset, not an orderly
// close that would make it look complete.
func TestAbortResetsHTTP10(t *testing.T) {
	_, addr := start(t, streamer, nil)
	for _, path := range []string{"/abort", "/panic"} {
		t.Run(path, func(t *testing.T) {
			c := dial(t, addr)
			if _, err := c.Write([]byte("GET " + path + " HTTP/1.0\r\n\r\n")); err != nil {
				t.Fatal(err)
			}
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			got, err := io.ReadAll(c)
			if !errors.Is(err, syscall.ECONNRESET) {
				t.Errorf("got %q, %v; want %v", got, err, syscall.ECONNRESET)
			}
		})
	}
}

// TestNoContinueInsideStream: a handler that starts streaming before it
// reads a body whose client waits for 100 Continue sends no 100 inside
// its response; the client sends the body once its wait is over.
func TestNoContinueInsideStream(t *testing.T) {
	_, addr := start(t, HandlerFunc(func(w *ResponseWriter, r *Request) {
		w.WriteString("progress")
		w.Flush()
		body, _ := io.ReadAll(r.Body)
		w.WriteString(" " + string(body))
	}), nil)
	c := dial(t, addr)
	if _, err := c.Write([]byte("PUT /k HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	first, _ := readFor(c, quiet)
	if _, err := c.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	rest, _ := readFor(c, quiet)
	want := "HTTP/1.1 200 OK\r\nDate: *\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n8\r\nprogress\r\n6\r\n hello\r\n0\r\n\r\n"
	if got := undate(first + rest); got != want {
		t.Errorf("got %q; want %q", got, want)
	}
}

// halfWriteListener's connections fail their second write after writing
// half of it, as a write that times out part way does.
type halfWriteListener struct{ net.Listener }

func (l *halfWriteListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &halfWriteConn{Conn: c}, nil
}

type halfWriteConn struct {
	net.Conn
	writes atomic.Int32
}

var errHalfWrite = errors.New("write timed out part way (simulated)")

func (c *halfWriteConn) Write(p []byte) (int, error) {
	if c.writes.Add(1) == 2 {
		n, _ := c.Conn.Write(p[:len(p)/2])
		return n, errHalfWrite
	}
	return c.Conn.Write(p)
}
