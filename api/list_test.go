package api_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"testing"
	"time"

	"kvhttp/api"
	"kvhttp/client"
	"kvhttp/store"
	"kvhttp/store/boltstore"
)

func TestListing(t *testing.T) {
	srv := startServerWith(t, t.TempDir(), api.Options{MaxListLimit: 3})
	for _, kv := range [][2]string{{"a", "1"}, {"a/1", "2"}, {"a/2", "\xff"}, {"b", "3"}} {
		srv.do(t, "PUT", "/kv/"+kv[0], kv[1]).status(t, 201)
	}
	srv.do(t, "PUT", "/kv/%FEbin", "4").status(t, 201)
	item := func(k, v string, version int) string {
		return fmt.Sprintf(`{"key":%q,"value":%q,"etag":"\"%d\""}`, k, v, version)
	}
	all := item("a", "1", 1) + "," + item("a/1", "2", 2) + "," + `{"key":"a/2","value_base64":"/w==","etag":"\"3\""}`
	text := "text/plain"
	for _, s := range []step{
		{method: "GET", target: "/kv/", status: 200, want: `{"items":[` + all + `],"next":"a/2"}` + "\n",
			wantFields: []string{"Link", `</kv/?after=a%2F2&limit=3>; rel="next"`, "Content-Type", "application/json"}},
		{method: "GET", target: "/kv/?after=a%2F2", status: 200,
			want:       `{"items":[` + item("b", "3", 4) + `,{"key_base64":"/mJpbg==","value":"4","etag":"\"5\""}],"next":null}` + "\n",
			wantFields: []string{"Link", ""}},
		{method: "GET", target: "/kv/?prefix=a/&limit=1", status: 200, want: `{"items":[` + item("a/1", "2", 2) + `],"next":"a/1"}` + "\n",
			wantFields: []string{"Link", `</kv/?prefix=a%2F&after=a%2F1&limit=1>; rel="next"`}},
		{method: "GET", target: "/kv/?prefix=a%2F&after=a/1", status: 200, want: `{"items":[{"key":"a/2","value_base64":"/w==","etag":"\"3\""}],"next":null}` + "\n"},
		{method: "GET", target: "/kv/?prefix=zz", status: 200, want: `{"items":[],"next":null}` + "\n"},
		{method: "GET", target: "/kv/?after=%FF", status: 200, want: `{"items":[],"next":null}` + "\n"},
		{method: "GET", target: "/kv/?keys&limit=2", status: 200, want: `{"items":[{"key":"a"},{"key":"a/1"}],"next":"a/1"}` + "\n",
			wantFields: []string{"Link", `</kv/?after=a%2F1&limit=2&keys>; rel="next"`}},
		{method: "GET", target: "/kv/?limit=100", status: 200, wantFields: []string{"Link", `</kv/?after=a%2F2&limit=3>; rel="next"`}},
		{method: "GET", target: "/kv/?limit=99999999999999999999", status: 200, wantFields: []string{"Link", `</kv/?after=a%2F2&limit=3>; rel="next"`}},
		{method: "GET", target: "/kv/?limit=-99999999999999999999", status: 400, want: "bad-query"},
		{method: "GET", target: "/kv?prefix=b", status: 200, want: `{"items":[` + item("b", "3", 4) + `],"next":null}` + "\n"},
		{method: "GET", target: "/kv/?prefix=a", fields: []string{"Accept", text}, status: 200, want: "a:1\na/1:2\na/2:\xff\n",
			wantFields: []string{"Content-Type", "text/plain; charset=utf-8"}},
		{method: "GET", target: "/kv/?prefix=a&keys", fields: []string{"Accept", text}, status: 200, want: "a\na/1\na/2\n"},
		{method: "HEAD", target: "/kv/", status: 200, want: "", wantFields: []string{"Content-Type", "application/json"}},
		{method: "GET", target: "/kv/?limit=0", status: 400, want: "bad-query"},
		{method: "GET", target: "/kv/?limit=x", status: 400, want: "bad-query"},
		{method: "GET", target: "/kv/?prefx=a", status: 400, want: "bad-query"},
		{method: "GET", target: "/kv/?keys=maybe", status: 400, want: "bad-query"},
		{method: "GET", target: "/kv/?after=%zz", status: 400, want: "bad-query"},
		{method: "DELETE", target: "/kv/", status: 405, wantFields: []string{"Allow", "GET, HEAD, OPTIONS"}},
	} {
		s.run(t, srv)
	}
}

// page is a listing page as JSON.
type page struct {
	Items []struct{ Key, Value, Etag string }
	Next  *string
}

// TestListingPagesToTheEnd: 100,000 keys paged through with the default
// limit are each seen once, in order, and every page's Link names the next.
func TestListingPagesToTheEnd(t *testing.T) {
	const total = 100000
	srv := startServer(t, t.TempDir())
	fill(t, srv.store, total, 8)
	target, seen := "/kv/", 0
	for pages := 0; ; pages++ {
		resp := srv.do(t, "GET", target, "")
		var p page
		if err := json.Unmarshal(resp.Body, &p); err != nil {
			t.Fatalf("page %d: %v", pages, err)
		}
		for _, it := range p.Items {
			if want := keyName(seen); it.Key != want {
				t.Fatalf("item %d: got key %q; want %q", seen, it.Key, want)
			}
			seen++
		}
		link := string(resp.Header.Get("Link"))
		if p.Next == nil {
			if link != "" || seen != total || pages+1 != total/api.DefaultListLimit {
				t.Fatalf("last page %d: saw %d keys, Link %q; want %d keys in %d pages", pages, seen, link, total, total/api.DefaultListLimit)
			}
			return
		}
		target = strings.TrimSuffix(strings.TrimPrefix(link, "<"), `>; rel="next"`)
		if !strings.Contains(target, "after="+*p.Next) {
			t.Fatalf("page %d: Link %q does not go on after %q", pages, link, *p.Next)
		}
	}
}

// TestListingStreamsInBoundedMemory reads one page of 100,000 keys (about
// 13 MB of JSON) as it streams, measuring the live heap of this process,
// where the server runs, every 10,000 items: it must stay far below the
// size of the page.
func TestListingStreamsInBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 100,000 keys; skipped in -short mode")
	}
	const total = 100000
	srv := startServerWith(t, filledDir(t, total, 100), api.Options{MaxListLimit: total})
	heap := watchHeap()
	body := openChunked(t, srv, fmt.Sprintf("/kv/?limit=%d", total))
	r := bufio.NewReader(body)
	items, bytes := 0, 0
	for {
		chunk, err := r.ReadSlice('}') // one item (or the closing brace)
		bytes += len(chunk)
		if strings.Contains(string(chunk), `"key":`) {
			if items++; items%10000 == 0 {
				heap.sample()
			}
		}
		if err != nil {
			break
		}
	}
	t.Logf("streamed %d items, %d bytes; live heap grew by at most %d KiB", items, bytes, heap.peak>>10)
	if items != total {
		t.Fatalf("got %d items; want %d", items, total)
	}
	heap.check(t, bytes)
}

// TestOriginListingStreamsInBoundedMemory: GET / over 100,000 pairs
// (about 13 MB of JSON) is one JSON object with every pair in key order,
// streamed: the live heap of this process, where the server runs, stays
// far below the size of the listing while it is read.
func TestOriginListingStreamsInBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 100,000 keys; skipped in -short mode")
	}
	const total, size = 100000, 100
	srv := startServer(t, filledDir(t, total, size))
	heap := watchHeap()
	counted := &countingReader{r: openChunked(t, srv, "/")}
	dec := json.NewDecoder(counted)
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("got %v, %v; want the start of an object", tok, err)
	}
	value := strings.Repeat("v", size)
	pairs := 0
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			t.Fatalf("pair %d: %v", pairs, err)
		}
		v, err := dec.Token()
		if err != nil {
			t.Fatalf("pair %d: %v", pairs, err)
		}
		if k != keyName(pairs) || v != value {
			t.Fatalf("pair %d: got %v:%.10v...; want %s:%.10s...", pairs, k, v, keyName(pairs), value)
		}
		if pairs++; pairs%10000 == 0 {
			heap.sample()
		}
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		t.Fatalf("got %v, %v; want the end of the object", tok, err)
	}
	t.Logf("streamed %d pairs, %d bytes; live heap grew by at most %d KiB", pairs, counted.n, heap.peak>>10)
	if pairs != total {
		t.Fatalf("got %d pairs; want %d", pairs, total)
	}
	heap.check(t, counted.n)
}

// openChunked GETs target and returns the body of its answer, which must
// be a chunked 200, to read as it arrives; the body closes with the test.
func openChunked(t *testing.T, srv *running, target string) io.Reader {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	resp, body, err := srv.client.Open(ctx, &client.Request{Method: "GET", Target: target})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { body.Close() })
	if resp.Status != 200 || string(resp.Header.Get("Transfer-Encoding")) != "chunked" {
		t.Fatalf("got %d with Transfer-Encoding %q; want a chunked 200", resp.Status, resp.Header.Get("Transfer-Encoding"))
	}
	return body
}

// heapWatch tracks how far the live heap of this process, where the
// server runs, grows above where it was when the watch began.
type heapWatch struct{ base, peak uint64 }

func watchHeap() *heapWatch { return &heapWatch{base: liveHeap()} }

// sample takes one reading.
func (w *heapWatch) sample() {
	if h := liveHeap(); h > w.base {
		w.peak = max(w.peak, h-w.base)
	}
}

// check fails the test if the heap grew by more than an eighth of the
// streamed bytes: a streamed body must not be held whole.
func (w *heapWatch) check(t *testing.T, streamed int) {
	t.Helper()
	if limit := uint64(streamed / 8); w.peak > limit {
		t.Errorf("live heap grew by %d bytes while streaming %d; want under %d", w.peak, streamed, limit)
	}
}

// TestListingFails: a listing whose store fails before anything was sent
// is a 500 problem, with none of the listing's own fields; one that fails
// after its head went out ends without its last chunk, so that the client
// sees it incomplete rather than short.
func TestListingFails(t *testing.T) {
	const keys = 5000
	tests := []struct {
		name, target string
		after        int  // items listed before the store fails
		sent         bool // the failure comes after the head went out
	}{
		{"GET /, at once", "/", 0, false},
		{"GET /, after a batch", "/", 1000, true},
		// The page's end is found first (keys+1 items), then the page read.
		{"GET /kv/, at once", fmt.Sprintf("/kv/?limit=%d", keys), keys + 1, false},
		{"GET /kv/, after a batch", fmt.Sprintf("/kv/?limit=%d", keys), keys + 1 + 1000, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := boltstore.Open(t.TempDir(), nil)
			if err != nil {
				t.Fatal(err)
			}
			fill(t, st, keys, 100)
			srv := startServerOn(t, &failingList{Store: st, after: tt.after}, api.Options{MaxListLimit: keys})
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			resp, body, err := srv.client.Open(ctx, &client.Request{Method: "GET", Target: tt.target})
			if err != nil {
				t.Fatal(err)
			}
			defer body.Close()
			got, err := io.ReadAll(body)
			if tt.sent {
				if resp.Status != 200 || err == nil {
					t.Errorf("got %d and %d bytes, %v; want 200, then an incomplete body", resp.Status, len(got), err)
				}
				return
			}
			if err != nil {
				t.Fatalf("reading the problem: %v", err)
			}
			var types []string
			for name, value := range resp.Header.All() {
				if strings.EqualFold(string(name), "Content-Type") {
					types = append(types, string(value))
				}
			}
			if resp.Status != 500 || fmt.Sprint(types) != "[application/problem+json]" || resp.Header.Get("Link") != nil {
				t.Errorf("got %d, Content-Type %q, Link %q; want 500, [application/problem+json], none", resp.Status, types, resp.Header.Get("Link"))
			}
			if !strings.Contains(string(got), `"status":500`) {
				t.Errorf("got body %s; want a problem", got)
			}
		})
	}
}

// failingList is a store whose listings fail once after items have been
// listed, counted over all its listings; every listing after that fails
// at once.
type failingList struct {
	api.Store
	after int
	n     int
}

var errListFailed = errors.New("injected listing failure")

func (f *failingList) List(ctx context.Context, opts store.ListOptions, fn func(store.Item) error) error {
	return f.Store.List(ctx, opts, func(it store.Item) error {
		if f.n == f.after {
			return errListFailed
		}
		f.n++
		return fn(it)
	})
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// filledDir returns a folder whose store holds n keys (keyName) with
// values of size bytes. The store is filled and closed, so that the keys
// are in bbolt, where most of a large store is, rather than among the
// writes not yet checkpointed (in memory; see store/boltstore).
func filledDir(t *testing.T, n, size int) string {
	t.Helper()
	dir := t.TempDir()
	st, err := boltstore.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	fill(t, st, n, size)
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

// liveHeap returns the bytes of live heap after two collections: the
// first only moves what sync.Pools hold to their victim caches.
func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

func keyName(i int) string { return fmt.Sprintf("key%06d", i) }

// fill writes n keys with values of size bytes straight into the store.
func fill(t *testing.T, st interface {
	PutAll(context.Context, []store.Item) error
}, n, size int) {
	t.Helper()
	value := []byte(strings.Repeat("v", size))
	items := make([]store.Item, n)
	for i := range items {
		items[i] = store.Item{Key: []byte(keyName(i)), Value: value}
	}
	if err := st.PutAll(context.Background(), items); err != nil {
		t.Fatal(err)
	}
}
