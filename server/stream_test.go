package server

import (
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync/atomic"
	"testing"
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
	_, addr, cl := start(t, streamer, nil)
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
	_, addr, _ := start(t, HandlerFunc(func(w *ResponseWriter, r *Request) {
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
// that went out, so nothing may follow it: no last chunk, no next
// response; the connection closes.
func TestFailedFlushCloses(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Logger: slog.New(slog.DiscardHandler), Handler: HandlerFunc(func(w *ResponseWriter, r *Request) {
		for range 3 {
			w.WriteString(strings.Repeat("x", 100))
			if w.Flush() != nil {
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
	if !closed || strings.Contains(got, "0\r\n\r\n") || strings.Count(got, "HTTP/1.1 ") != 1 {
		t.Errorf("got %q (closed %v); want one response, cut off in its second chunk, and the connection closed", got, closed)
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
