package client_test

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"kvhttp/client"
)

// oracle is a net/http server: an independent implementation to check the
// client against.
func oracle(t *testing.T, idle time.Duration) (addr string, conns *atomic.Int64) {
	t.Helper()
	conns = &atomic.Int64{}
	mux := http.NewServeMux()
	mux.HandleFunc("/chunked", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "X-Sum")
		for _, piece := range []string{"one ", "two ", "three"} {
			io.WriteString(w, piece)
			w.(http.Flusher).Flush()
		}
		w.Header().Set("X-Sum", "13")
	})
	mux.HandleFunc("/until-close", func(w http.ResponseWriter, r *http.Request) {
		c, buf, err := w.(http.Hijacker).Hijack()
		if err != nil {
			return
		}
		buf.WriteString("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nall of this, until the end")
		buf.Flush()
		c.Close()
	})
	mux.HandleFunc("/early-hints", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</style.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		io.WriteString(w, "final")
	})
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body) // net/http sends 100 Continue here
		w.Header().Set("Content-Type", "text/plain")
		w.Write(b)
	})
	mux.HandleFunc("/static", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "6")
		io.WriteString(w, "static")
	})
	srv := httptest.NewUnstartedServer(mux)
	srv.Config.IdleTimeout = idle
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String(), conns
}

func TestAgainstNetHTTP(t *testing.T) {
	addr, conns := oracle(t, time.Minute)
	c := &client.Client{Addr: addr}
	defer c.Close()
	tests := []struct {
		method, target, body string
		status               int
		want, trailer        string
	}{
		{"GET", "/chunked", "", 200, "one two three", "13"},
		{"GET", "/until-close", "", 200, "all of this, until the end", ""},
		{"GET", "/early-hints", "", 200, "final", ""},
		{"HEAD", "/static", "", 200, "", ""},
		{"GET", "/static", "", 200, "static", ""},
		{"POST", "/echo", "echoed", 200, "echoed", ""},
	}
	for _, tc := range tests {
		req := &client.Request{Method: tc.method, Target: tc.target, Body: []byte(tc.body)}
		if tc.body != "" {
			req.Header.Add("Expect", "100-continue")
		}
		resp, err := c.Do(ctx(t), req)
		if err != nil {
			t.Fatalf("%s %s: %v", tc.method, tc.target, err)
		}
		if resp.Status != tc.status || string(resp.Body) != tc.want || string(resp.Trailer.Get("X-Sum")) != tc.trailer {
			t.Errorf("%s %s: got %d %q trailer %q; want %d %q trailer %q", tc.method, tc.target,
				resp.Status, resp.Body, resp.Trailer.Get("X-Sum"), tc.status, tc.want, tc.trailer)
		}
	}
	// One connection for all but the close-delimited response, which ends
	// its connection, and the one after it.
	if n := conns.Load(); n != 2 {
		t.Errorf("got %d connections; want 2", n)
	}
}

// TestStreamedBody reads a chunked body as it arrives.
func TestStreamedBody(t *testing.T) {
	addr, _ := oracle(t, time.Minute)
	c := &client.Client{Addr: addr}
	defer c.Close()
	resp, body, err := c.Open(ctx(t), &client.Request{Method: "GET", Target: "/chunked"})
	if err != nil || resp.Status != 200 {
		t.Fatalf("got %v, %v", resp, err)
	}
	got, err := io.ReadAll(body)
	body.Close()
	if err != nil || string(got) != "one two three" || string(resp.Trailer.Get("X-Sum")) != "13" {
		t.Errorf("got %q, %v, trailer %q", got, err, resp.Trailer.Get("X-Sum"))
	}
}

// TestIdleClose: a server that closes idle connections without notice.
// The client sees the close before reusing the connection and sends the
// next request, whatever its method, on a new one.
func TestIdleClose(t *testing.T) {
	addr, conns := oracle(t, 100*time.Millisecond)
	for _, method := range []string{"GET", "POST"} {
		c := &client.Client{Addr: addr}
		if _, err := c.Do(ctx(t), &client.Request{Method: method, Target: "/echo"}); err != nil {
			t.Fatal(err)
		}
		before := conns.Load()
		time.Sleep(400 * time.Millisecond) // the server closes the idle connection
		if _, err := c.Do(ctx(t), &client.Request{Method: method, Target: "/echo"}); err != nil {
			t.Errorf("%s: got %v; want it sent on a new connection", method, err)
		}
		if n := conns.Load() - before; n != 1 {
			t.Errorf("%s: got %d new connections; want 1", method, n)
		}
		c.Close()
	}
}
