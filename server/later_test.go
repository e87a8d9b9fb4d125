package server

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// A plain Handler may defer its response too: ServeHTTP calls Later and
// the response is finished from another goroutine, on any connection.
func TestLaterFromServeHTTP(t *testing.T) {
	h := HandlerFunc(func(w *ResponseWriter, r *Request) {
		body, _ := io.ReadAll(r.Body)
		if !w.Later() {
			w.WriteHeader(500)
			return
		}
		go func() {
			time.Sleep(time.Millisecond)
			w.WriteHeader(201)
			fmt.Fprintf(w, "got %s", body)
			w.Done()
		}()
	})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &Server{Handler: h}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	t.Cleanup(func() {
		srv.Close()
		<-served
	})
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	for i := range 20 {
		body := fmt.Sprintf("n%d", i)
		if _, err := fmt.Fprintf(c, "POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: %d\r\n\r\n%s", len(body), body); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 201 || string(got) != "got "+body {
			t.Errorf("request %d: got %d %q; want 201 %q", i, resp.StatusCode, got, "got "+body)
		}
	}
}
