package server

import (
	"strings"
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
