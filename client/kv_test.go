package client_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"kvhttp/api"
	"kvhttp/client"
	"kvhttp/server"
	"kvhttp/store/boltstore"
)

// serveKV runs the project's server over a fresh store and returns its
// address.
func serveKV(t *testing.T) string {
	t.Helper()
	st, err := boltstore.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	quiet := slog.New(slog.DiscardHandler)
	srv := &server.Server{Handler: api.New(st, api.Options{Logger: quiet}), Logger: quiet}
	go srv.Serve(l)
	t.Cleanup(func() {
		srv.Close()
		st.Close()
	})
	return l.Addr().String()
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

func TestTypedCalls(t *testing.T) {
	c := &client.Client{Addr: serveKV(t)}
	defer c.Close()
	if err := c.Health(ctx(t)); err != nil {
		t.Fatalf("Health: %v", err)
	}
	if _, err := c.Get(ctx(t), "a/b c"); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("Get of a missing key: got %v; want ErrNotFound", err)
	}
	w, err := c.Create(ctx(t), "a/b c", []byte("v1"))
	if err != nil || !w.Created || w.ETag == "" {
		t.Fatalf("Create: got %+v, %v", w, err)
	}
	if _, err := c.Create(ctx(t), "a/b c", []byte("again")); !errors.Is(err, client.ErrPreconditionFailed) {
		t.Errorf("second Create: got %v; want ErrPreconditionFailed", err)
	}
	if _, err := c.Update(ctx(t), "missing", []byte("x")); !errors.Is(err, client.ErrPreconditionFailed) {
		t.Errorf("Update of a missing key: got %v; want ErrPreconditionFailed", err)
	}
	it, err := c.Get(ctx(t), "a/b c")
	if err != nil || string(it.Value) != "v1" || it.ETag != w.ETag || it.ContentType != "application/octet-stream" {
		t.Fatalf("Get: got %+v, %v", it, err)
	}
	w2, err := c.Put(ctx(t), "a/b c", []byte("v2"), &client.PutOptions{IfMatch: it.ETag, ContentType: "text/plain"})
	if err != nil || w2.Created || w2.ETag == w.ETag {
		t.Fatalf("compare-and-swap: got %+v, %v", w2, err)
	}
	if _, err := c.Put(ctx(t), "a/b c", []byte("v3"), &client.PutOptions{IfMatch: it.ETag}); !errors.Is(err, client.ErrPreconditionFailed) {
		t.Errorf("stale compare-and-swap: got %v; want ErrPreconditionFailed", err)
	}
	head, err := c.Head(ctx(t), "a/b c")
	if err != nil || head.Value != nil || head.Length != 2 || head.ContentType != "text/plain" || head.ETag != w2.ETag {
		t.Errorf("Head: got %+v, %v", head, err)
	}
	var e *client.Error
	if err := c.Delete(ctx(t), "a/b c", it.ETag); !errors.As(err, &e) || e.Status != 412 || e.Type != "urn:kvhttp:problem:precondition-failed" {
		t.Errorf("Delete with a stale ETag: got %v; want a 412 *Error with the problem type", err)
	}
	if err := c.Delete(ctx(t), "a/b c", w2.ETag); err != nil {
		t.Errorf("Delete: %v", err)
	}
	if err := c.Delete(ctx(t), "a/b c", ""); !errors.Is(err, client.ErrNotFound) {
		t.Errorf("second Delete: got %v; want ErrNotFound", err)
	}
	// The origin's routes answer 400 with their own types, which the
	// kinds still tell apart.
	create := &client.Request{Method: "POST", Target: "/create", Body: []byte("k:v")}
	if resp, err := c.Do(ctx(t), create); err != nil || resp.Status != 201 {
		t.Fatalf("POST /create: %v %v", resp, err)
	}
	resp, err := c.Do(ctx(t), create)
	if err != nil {
		t.Fatal(err)
	}
	if e := client.ErrorOf(create, resp); !errors.Is(e, client.ErrConflict) || errors.Is(e, client.ErrNotFound) || e.Status != 400 {
		t.Errorf("second POST /create: got %v; want a 400 matching ErrConflict", e)
	}
	update := &client.Request{Method: "PUT", Target: "/update", Body: []byte("nope:v")}
	resp, _ = c.Do(ctx(t), update)
	if e := client.ErrorOf(update, resp); !errors.Is(e, client.ErrNotFound) {
		t.Errorf("PUT /update of a missing key: got %v; want it to match ErrNotFound", e)
	}
	if e := (&client.Error{Status: 409}); !errors.Is(e, client.ErrConflict) {
		t.Errorf("409: got %v; want it to match ErrConflict", e)
	}
}

// TestEmptyKey: the calls on one key refuse an empty one without sending
// anything: /kv/ is the listing.
func TestEmptyKey(t *testing.T) {
	c := &client.Client{Addr: "127.0.0.1:1"} // never dialled
	defer c.Close()
	_, getErr := c.Get(ctx(t), "")
	_, headErr := c.Head(ctx(t), "")
	_, putErr := c.Put(ctx(t), "", []byte("v"), nil)
	for name, err := range map[string]error{"Get": getErr, "Head": headErr, "Put": putErr, "Delete": c.Delete(ctx(t), "", "")} {
		if !errors.Is(err, client.ErrEmptyKey) {
			t.Errorf("%s: got %v; want %v", name, err, client.ErrEmptyKey)
		}
	}
}

func TestListIterator(t *testing.T) {
	c := &client.Client{Addr: serveKV(t)}
	defer c.Close()
	keys := []string{"p/1", "p/2", "p/3", "p/4", "p/5", "q", "p/\xff"}
	for _, k := range keys {
		if _, err := c.Put(ctx(t), k, []byte("v"+k), nil); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	for it, err := range c.List(ctx(t), client.ListOptions{Prefix: "p/", PageSize: 2}) {
		if err != nil {
			t.Fatal(err)
		}
		if string(it.Value) != "v"+it.Key || it.ETag == "" {
			t.Errorf("item %q: value %q, etag %q", it.Key, it.Value, it.ETag)
		}
		got = append(got, it.Key)
	}
	if want := "p/1 p/2 p/3 p/4 p/5 p/\xff"; strings.Join(got, " ") != want {
		t.Errorf("got %q; want %q", got, want)
	}
	got = got[:0]
	for it, err := range c.List(ctx(t), client.ListOptions{After: "p/4", KeysOnly: true}) {
		if err != nil || it.Value != nil {
			t.Fatalf("got %+v, %v", it, err)
		}
		got = append(got, it.Key)
		if len(got) == 2 {
			break // the iterator stops cleanly
		}
	}
	if strings.Join(got, " ") != "p/5 p/\xff" {
		t.Errorf("got %q", got)
	}
}

func TestPipeline(t *testing.T) {
	c := &client.Client{Addr: serveKV(t)}
	defer c.Close()
	var reqs []*client.Request
	for _, k := range []string{"a", "b", "c"} {
		reqs = append(reqs, &client.Request{Method: "PUT", Target: "/kv/" + k, Body: []byte(k)})
	}
	for _, k := range []string{"c", "b", "a", "missing"} {
		reqs = append(reqs, &client.Request{Method: "GET", Target: "/kv/" + k})
	}
	reqs = append(reqs, &client.Request{Method: "HEAD", Target: "/kv/a"})
	resps, err := c.Pipeline(ctx(t), reqs)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range resps {
		got = append(got, string(rune('0'+r.Status/100))+":"+string(r.Body))
	}
	if want := "2: 2: 2: 2:c 2:b 2:a 4:" + string(resps[6].Body) + " 2:"; strings.Join(got, " ") != want {
		t.Errorf("got %q; want %q", got, want)
	}
}

// countingDial counts the bytes the client writes.
func countingDial(n *atomic.Int64) func(context.Context, string, string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		return &countingConn{Conn: c, n: n}, err
	}
}

type countingConn struct {
	net.Conn
	n *atomic.Int64
}

func (c *countingConn) Write(p []byte) (int, error) {
	c.n.Add(int64(len(p)))
	return c.Conn.Write(p)
}

// TestExpectContinue: with "Expect: 100-continue" the body goes only once
// the server asks for it; a server that answers first never gets it.
func TestExpectContinue(t *testing.T) {
	var written atomic.Int64
	c := &client.Client{Addr: serveKV(t), Dial: countingDial(&written)}
	defer c.Close()
	body := []byte(strings.Repeat("x", 100000))
	put := &client.Request{Method: "PUT", Target: "/kv/big", Body: body}
	put.Header.Add("Expect", "100-continue")
	resp, err := c.Do(ctx(t), put)
	if err != nil || resp.Status != 201 {
		t.Fatalf("got %v, %v; want 201", resp, err)
	}
	if n := written.Load(); n < int64(len(body)) {
		t.Errorf("wrote %d bytes; want the whole body sent after 100 Continue", n)
	}
	written.Store(0)
	refused := &client.Request{Method: "POST", Target: "/no/such/route", Body: body}
	refused.Header.Add("Expect", "100-continue")
	start := time.Now()
	resp, err = c.Do(ctx(t), refused)
	if err != nil || resp.Status != 404 {
		t.Fatalf("got %v, %v; want 404", resp, err)
	}
	if n := written.Load(); n >= int64(len(body)) || time.Since(start) > client.DefaultExpectTimeout {
		t.Errorf("wrote %d bytes in %v; want the head only, answered at once", n, time.Since(start))
	}
}
