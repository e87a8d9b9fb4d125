package scaling

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"kvhttp/api"
	"kvhttp/api/apitest"
	"kvhttp/client"
	"kvhttp/internal/nginxtest"
	"kvhttp/server"
	"kvhttp/store/redisstore"
	"kvhttp/store/redisstore/redistest"
)

// exampleConf is the nginx configuration the tests run, and the addresses
// in it that they replace with their own.
const (
	exampleConf   = "../examples/nginx-kvhttp.conf"
	exampleListen = "listen 127.0.0.1:8080;"
	exampleFront1 = "server 127.0.0.1:10001;"
	exampleFront2 = "server 127.0.0.1:10002;"
)

// frontEnd is one kvhttp server on the shared store, in-process.
type frontEnd struct {
	addr     string
	store    *redisstore.Store
	requests atomic.Int64 // requests it served
}

// startFrontEnd opens a store on the cluster at addrs under prefix,
// waiting for one replica on every write, and serves the API from it on
// a free loopback port until t ends.
func startFrontEnd(t *testing.T, addrs []string, prefix string) *frontEnd {
	t.Helper()
	st, err := redisstore.Open(context.Background(), redisstore.Options{Addrs: addrs, WaitReplicas: 1, KeyPrefix: prefix})
	if err != nil {
		t.Fatalf("redisstore.Open: %v", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		st.Close()
		t.Fatal(err)
	}
	fe := &frontEnd{addr: l.Addr().String(), store: st}
	quiet := slog.New(slog.DiscardHandler)
	h := api.New(st, api.Options{Logger: quiet})
	srv := &server.Server{
		Handler: server.HandlerFunc(func(w *server.ResponseWriter, r *server.Request) {
			fe.requests.Add(1)
			h.ServeHTTP(w, r)
		}),
		Logger: quiet,
	}
	go srv.Serve(l)
	t.Cleanup(func() {
		srv.Close()
		st.Close()
	})
	return fe
}

// startNginx runs nginx with examples/nginx-kvhttp.conf, its listening
// address replaced by a free one and its two upstream servers by fronts,
// in a temporary prefix folder, and returns the address it listens on.
// nginx is stopped when t ends.
func startNginx(t *testing.T, fronts ...string) string {
	t.Helper()
	if len(fronts) != 2 {
		t.Fatalf("startNginx: got %d front ends; want 2", len(fronts))
	}
	conf, err := os.ReadFile(exampleConf)
	if err != nil {
		t.Fatal(err)
	}
	addr := nginxtest.FreeAddr(t)
	text := string(conf)
	for _, r := range [][2]string{
		{exampleListen, "listen " + addr + ";"},
		{exampleFront1, "server " + fronts[0] + ";"},
		{exampleFront2, "server " + fronts[1] + ";"},
	} {
		if n := strings.Count(text, r[0]); n != 1 {
			t.Fatalf("%s: got %d lines %q; want 1", exampleConf, n, r[0])
		}
		text = strings.Replace(text, r[0], r[1], 1)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	nginxtest.Start(t, dir, path, addr, "-g", "daemon off;")
	return addr
}

// callCtx returns a context for one call, canceled when t ends.
func callCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// TestThroughNginx runs the API through nginx, in front of two kvhttp
// servers on one Redis Cluster; nginx sends successive requests to
// alternate servers.
func TestThroughNginx(t *testing.T) {
	nginxtest.Binary(t)
	cluster := redistest.StartCluster(t)
	fronts := []*frontEnd{
		startFrontEnd(t, cluster.Addrs(), "scaling:"),
		startFrontEnd(t, cluster.Addrs(), "scaling:"),
	}
	addr := startNginx(t, fronts[0].addr, fronts[1].addr)
	c := &client.Client{Addr: addr, MaxIdleConns: 32}
	t.Cleanup(func() { c.Close() })

	t.Run("origin", func(t *testing.T) { testOrigin(t, c) })
	t.Run("key", func(t *testing.T) { testKey(t, c) })
	t.Run("conditions", func(t *testing.T) { testConditions(t, c) })
	t.Run("concurrent-cas", func(t *testing.T) { testConcurrentCAS(t, c) })
	t.Run("listing", func(t *testing.T) { testListing(t, c) })

	for i, fe := range fronts {
		if n := fe.requests.Load(); n < 100 {
			t.Errorf("front end %d served %d requests; want nginx to spread the load over both", i, n)
		}
	}
}

// testOrigin runs the origin's nine cases, on an empty store.
func testOrigin(t *testing.T, c *client.Client) {
	for i, tc := range apitest.OriginCases {
		req := &client.Request{Method: tc.Method, Target: tc.Target, Body: []byte(tc.Body)}
		resp, err := c.Do(callCtx(t), req)
		if err != nil {
			t.Fatalf("case %d, %s %s: %v", i+1, tc.Method, tc.Target, err)
		}
		if resp.Status != tc.Status {
			t.Errorf("case %d, %s %s: got status %d; want %d (body %s)", i+1, tc.Method, tc.Target, resp.Status, tc.Status, resp.Body)
			continue
		}
		got := string(resp.Body)
		if tc.Status >= 400 {
			if e := client.ErrorOf(req, resp); e.Type != tc.Want {
				t.Errorf("case %d, %s %s: got problem type %q; want %q", i+1, tc.Method, tc.Target, e.Type, tc.Want)
			}
			continue
		}
		if got != tc.Want {
			t.Errorf("case %d, %s %s: got body %q; want %q", i+1, tc.Method, tc.Target, got, tc.Want)
		}
	}
}

// testKey reads, writes and deletes one key, following its ETags.
func testKey(t *testing.T, c *client.Client) {
	ctx := callCtx(t)
	w1, err := c.Put(ctx, "key/1", []byte("one"), &client.PutOptions{ContentType: "text/plain"})
	if err != nil || !w1.Created || w1.ETag == "" {
		t.Fatalf("Put of a new key: got %+v, %v; want created with an ETag", w1, err)
	}
	// Each read may be served by the other front end: all see the write.
	for range 2 {
		it, err := c.Get(ctx, "key/1")
		if err != nil || string(it.Value) != "one" || it.ETag != w1.ETag || it.ContentType != "text/plain" {
			t.Fatalf("Get: got %+v, %v; want one, %s, text/plain", it, err, w1.ETag)
		}
	}
	w2, err := c.Put(ctx, "key/1", []byte("two"), nil)
	if err != nil || w2.Created || w2.ETag == w1.ETag {
		t.Fatalf("Put over a key: got %+v, %v; want not created, an ETag other than %s", w2, err, w1.ETag)
	}
	head, err := c.Head(ctx, "key/1")
	if err != nil || head.ETag != w2.ETag || head.Length != 3 {
		t.Errorf("Head: got %+v, %v; want ETag %s, length 3", head, err, w2.ETag)
	}
	req := &client.Request{Method: "GET", Target: "/kv/key/1"}
	req.Header.Add("If-None-Match", w2.ETag)
	if resp, err := c.Do(ctx, req); err != nil || resp.Status != 304 {
		t.Errorf("GET If-None-Match of the current ETag: got %v, %v; want status 304", resp, err)
	}
	if err := c.Delete(ctx, "key/1", w1.ETag); !errors.Is(err, client.ErrPreconditionFailed) {
		t.Errorf("Delete If-Match of an old ETag: got %v; want %v", err, client.ErrPreconditionFailed)
	}
	if err := c.Delete(ctx, "key/1", w2.ETag); err != nil {
		t.Errorf("Delete If-Match of the current ETag: got %v; want %v", err, nil)
	}
	if _, err := c.Get(ctx, "key/1"); !errors.Is(err, client.ErrNotFound) {
		t.Errorf("Get after Delete: got %v; want %v", err, client.ErrNotFound)
	}
	if err := c.Delete(ctx, "key/1", ""); !errors.Is(err, client.ErrNotFound) {
		t.Errorf("Delete of a deleted key: got %v; want %v", err, client.ErrNotFound)
	}
}

// testConditions checks create-only writes (If-None-Match: *), updates
// (If-Match: *) and compare-and-swap (If-Match: ETag).
func testConditions(t *testing.T, c *client.Client) {
	ctx := callCtx(t)
	if _, err := c.Update(ctx, "cond/1", []byte("x")); !errors.Is(err, client.ErrPreconditionFailed) {
		t.Errorf("Update of an absent key: got %v; want %v", err, client.ErrPreconditionFailed)
	}
	created, err := c.Create(ctx, "cond/1", []byte("first"))
	if err != nil || !created.Created {
		t.Fatalf("Create of an absent key: got %+v, %v; want created", created, err)
	}
	if _, err := c.Create(ctx, "cond/1", []byte("second")); !errors.Is(err, client.ErrPreconditionFailed) {
		t.Errorf("Create of an existing key: got %v; want %v", err, client.ErrPreconditionFailed)
	}
	updated, err := c.Update(ctx, "cond/1", []byte("updated"))
	if err != nil || updated.Created {
		t.Fatalf("Update of an existing key: got %+v, %v; want updated", updated, err)
	}
	if _, err := c.Put(ctx, "cond/1", []byte("stale"), &client.PutOptions{IfMatch: created.ETag}); !errors.Is(err, client.ErrPreconditionFailed) {
		t.Errorf("Put If-Match of an old ETag: got %v; want %v", err, client.ErrPreconditionFailed)
	}
	swapped, err := c.Put(ctx, "cond/1", []byte("swapped"), &client.PutOptions{IfMatch: updated.ETag})
	if err != nil {
		t.Fatalf("Put If-Match of the current ETag: got %v; want %v", err, nil)
	}
	if it, err := c.Get(ctx, "cond/1"); err != nil || string(it.Value) != "swapped" || it.ETag != swapped.ETag {
		t.Errorf("Get after compare-and-swap: got %+v, %v; want swapped, %s", it, err, swapped.ETag)
	}
}

// testConcurrentCAS: in each round, 32 writers send a compare-and-swap of
// one key from the same ETag at once, through nginx to both front ends;
// exactly one wins, the others get 412, and the key holds the winner's
// value.
func testConcurrentCAS(t *testing.T, c *client.Client) {
	const writers, rounds = 32, 8
	ctx := callCtx(t)
	w, err := c.Put(ctx, "cas", []byte("start"), nil)
	if err != nil {
		t.Fatal(err)
	}
	etag := w.ETag
	for round := range rounds {
		var (
			wins, refused atomic.Int64
			mu            sync.Mutex
			winner        string
			winnerTag     string
			start         = make(chan struct{})
			g             errgroup.Group
		)
		for i := range writers {
			g.Go(func() error {
				value := fmt.Sprintf("round %d writer %d", round, i)
				<-start
				w, err := c.Put(ctx, "cas", []byte(value), &client.PutOptions{IfMatch: etag})
				switch {
				case err == nil:
					wins.Add(1)
					mu.Lock()
					winner, winnerTag = value, w.ETag
					mu.Unlock()
				case errors.Is(err, client.ErrPreconditionFailed):
					refused.Add(1)
				default:
					return fmt.Errorf("writer %d: %w", i, err)
				}
				return nil
			})
		}
		close(start)
		if err := g.Wait(); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if wins.Load() != 1 || refused.Load() != writers-1 {
			t.Fatalf("round %d: got %d wins, %d refused; want 1, %d", round, wins.Load(), refused.Load(), writers-1)
		}
		it, err := c.Get(ctx, "cas")
		if err != nil || string(it.Value) != winner || it.ETag != winnerTag {
			t.Fatalf("round %d: got %+v, %v; want the winner's %q, %s", round, it, err, winner, winnerTag)
		}
		etag = winnerTag
	}
}

// testListing writes a few thousand keys in random order and lists them
// page by page: each key once, in byte order, with its value.
func testListing(t *testing.T, c *client.Client) {
	const n = 3000
	ctx := callCtx(t)
	order := rand.Perm(n)
	var g errgroup.Group
	g.SetLimit(16)
	for _, i := range order {
		g.Go(func() error {
			k := fmt.Sprintf("list/%05d", i)
			_, err := c.Put(ctx, k, []byte("v"+k), nil)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	i := 0
	for it, err := range c.List(ctx, client.ListOptions{Prefix: "list/", PageSize: 128}) {
		if err != nil {
			t.Fatalf("List after %d keys: %v", i, err)
		}
		if want := fmt.Sprintf("list/%05d", i); it.Key != want || string(it.Value) != "v"+want {
			t.Fatalf("item %d: got %q = %q; want %q = %q", i, it.Key, it.Value, want, "v"+want)
		}
		i++
	}
	if i != n {
		t.Errorf("listed %d keys; want %d", i, n)
	}
}
