package api_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
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
	// Filled, closed and opened again, so that the keys are in bbolt:
	// writes not yet checkpointed from the store's log are listed from
	// memory (at most about a second's worth; see store/boltstore).
	dir := t.TempDir()
	st, err := boltstore.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	fill(t, st, total, 100)
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	srv := startServerWith(t, dir, api.Options{MaxListLimit: total})
	base := liveHeap()

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	resp, body, err := srv.client.Open(ctx, &client.Request{Method: "GET", Target: fmt.Sprintf("/kv/?limit=%d", total)})
	if err != nil {
		t.Fatal(err)
	}
	defer body.Close()
	if resp.Status != 200 || string(resp.Header.Get("Transfer-Encoding")) != "chunked" {
		t.Fatalf("got %d with Transfer-Encoding %q; want a chunked 200", resp.Status, resp.Header.Get("Transfer-Encoding"))
	}
	r := bufio.NewReader(body)
	items, bytes, peak := 0, 0, uint64(0)
	for {
		chunk, err := r.ReadSlice('}') // one item (or the closing brace)
		bytes += len(chunk)
		if strings.Contains(string(chunk), `"key":`) {
			if items++; items%10000 == 0 {
				if h := liveHeap(); h > base {
					peak = max(peak, h-base)
				}
			}
		}
		if err != nil {
			break
		}
	}
	t.Logf("streamed %d items, %d bytes; live heap grew by at most %d KiB", items, bytes, peak>>10)
	if items != total {
		t.Fatalf("got %d items; want %d", items, total)
	}
	if limit := uint64(bytes / 8); peak > limit {
		t.Errorf("live heap grew by %d bytes while streaming %d; want under %d", peak, bytes, limit)
	}
}

// liveHeap returns the bytes of live heap after a collection.
func liveHeap() uint64 {
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
