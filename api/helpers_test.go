package api_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"testing"
	"time"

	"kvhttp/api"
	"kvhttp/client"
	"kvhttp/server"
	"kvhttp/store/boltstore"
	"kvhttp/wire"
)

// running is a real server on a loopback port over a bbolt store.
type running struct {
	addr   string
	store  *boltstore.Store
	client *client.Client
	stop   func()
}

// startServer serves the API over the store in dir until the test ends
// (or stop is called).
func startServer(t testing.TB, dir string) *running {
	t.Helper()
	return startServerWith(t, dir, api.Options{})
}

// startServerWith is startServer with API options.
func startServerWith(t testing.TB, dir string, opts api.Options) *running {
	t.Helper()
	st, err := boltstore.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := startServerOn(t, st, opts)
	r.store = st
	return r
}

// startServerOn serves the API over st, which it closes, until the test
// ends (or stop is called). The result's store field is left nil.
func startServerOn(t testing.TB, st api.Store, opts api.Options) *running {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	quiet := slog.New(slog.DiscardHandler)
	opts.Logger = quiet
	// The body limit as serve sets it: the default, raised to the value
	// limit if that is larger.
	maxValue := int64(api.DefaultMaxValueBytes)
	if opts.MaxValueBytes > 0 {
		maxValue = int64(opts.MaxValueBytes)
	}
	srv := &server.Server{Handler: api.New(st, opts), Logger: quiet, Limits: wire.Limits{MaxBodyBytes: max(wire.DefaultMaxBodyBytes, maxValue)}}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	r := &running{addr: l.Addr().String(), client: &client.Client{Addr: l.Addr().String()}}
	stopped := false
	r.stop = func() {
		if stopped {
			return
		}
		stopped = true
		r.client.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-done; !errors.Is(err, server.ErrServerClosed) {
			t.Errorf("Serve: got %v; want %v", err, server.ErrServerClosed)
		}
		if err := st.Close(); err != nil {
			t.Errorf("closing the store: %v", err)
		}
	}
	t.Cleanup(r.stop)
	return r
}

// response is a received response, with test helpers.
type response struct{ *client.Response }

// do sends one request and returns the response.
func (r *running) do(t *testing.T, method, target, body string, fields ...string) response {
	t.Helper()
	req := &client.Request{Method: method, Target: target, Body: []byte(body)}
	for i := 0; i+1 < len(fields); i += 2 {
		req.Header.Add(fields[i], fields[i+1])
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := r.client.Do(ctx, req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	return response{resp}
}
