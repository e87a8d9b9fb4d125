package boltstore

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"

	"kvhttp/store"
)

// testOverlay returns an overlay whose frozen memtable holds k000 to k299
// with even numbers, valued "f", and whose active one holds the multiples
// of 3, valued "a", except that multiples of 5 are deleted there; and the
// listing that overlay should give: key to value, "-" for a delete.
func testOverlay() (*overlay, map[string]string) {
	want := map[string]string{}
	fz, act := newMemtable(1), newMemtable(2)
	for i := range 300 {
		k := fmt.Sprintf("k%03d", i)
		if i%2 == 0 {
			fz.set([]byte(k), []byte("f"))
			want[k] = "f"
		}
		switch {
		case i%5 == 0:
			act.set([]byte(k), nil)
			want[k] = "-"
		case i%3 == 0:
			act.set([]byte(k), []byte("a"))
			want[k] = "a"
		}
	}
	return overlayOf(act, fz), want
}

// overlayOf returns an overlay of the memtables active and frozen.
func overlayOf(active, frozen *memtable) *overlay {
	ov := &overlay{active: active, frozen: frozen}
	ov.n.Store(int64(active.len() + frozen.len()))
	return ov
}

// walk lists what c yields, as key=value, "-" for a delete.
func walk(c *ovCursor) []string {
	var got []string
	for {
		e, ok := c.peek()
		if !ok {
			return got
		}
		c.advance()
		v := "-"
		if e.rec != nil {
			v = string(e.rec)
		}
		got = append(got, e.key+"="+v)
	}
}

// TestOverlayCursor: the overlay's entries in a listing's range come in
// key order, active's winning over frozen's, across many chunks of the
// B-trees, for every prefix and cursor.
func TestOverlayCursor(t *testing.T) {
	ov, model := testOverlay()
	tests := []struct {
		prefix, after string
		hasAfter      bool
	}{
		{"", "", false},
		{"k1", "", false},
		{"k29", "", false},
		{"x", "", false},
		{"", "k000", true},
		{"", "k150", true},
		{"", "k1505", true}, // not a key
		{"", "k299", true},
		{"k2", "k1", true}, // a cursor before the prefix
		{"k1", "k2", true}, // after the prefix
		{"k1", "k123", true},
	}
	for _, tt := range tests {
		var after []byte
		if tt.hasAfter {
			after = []byte(tt.after)
		}
		var want []string
		for k, v := range model {
			if strings.HasPrefix(k, tt.prefix) && (!tt.hasAfter || k > tt.after) {
				want = append(want, k+"="+v)
			}
		}
		slices.Sort(want)
		got := walk(newOvCursor(ov.snapshot(), []byte(tt.prefix), after))
		if !slices.Equal(got, want) {
			t.Errorf("prefix %q after %q: got %d entries %v; want %d %v", tt.prefix, after, len(got), got, len(want), want)
		}
	}
}

// TestOverlaySnapshot: a listing's view does not change when writes land
// in active after it was taken, nor when frozen is dropped.
func TestOverlaySnapshot(t *testing.T) {
	ov, _ := testOverlay()
	v := ov.snapshot()
	before := walk(newOvCursor(v, nil, nil))

	staged := newMemtable(0)
	for i := range 300 {
		staged.set(fmt.Appendf(nil, "k%03d", i), []byte("new"))
	}
	staged.set([]byte("k999"), []byte("new"))
	ov.merge(staged)
	ov.thaw()

	if got := walk(newOvCursor(v, nil, nil)); !slices.Equal(got, before) {
		t.Errorf("view after later writes: got %v; want %v", got, before)
	}
	now := walk(newOvCursor(ov.snapshot(), nil, nil))
	if len(now) != 301 || now[0] != "k000=new" || now[300] != "k999=new" {
		t.Errorf("a new view: got %d entries, %v; want 301, all new", len(now), now)
	}
}

// TestGetFromOverlayAllocs: a Get that finds its key among the writes not
// yet checkpointed allocates nothing, as one from bbolt does.
func TestGetFromOverlayAllocs(t *testing.T) {
	s, err := Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	// Checkpoints fail, so the write stays in the overlay.
	s.commitTx = func(func(*bolt.Tx) error) error { return errInjected }
	key := []byte("key")
	if _, err := s.Put(t.Context(), key, []byte("value"), nil, store.Cond{}); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 0, 64)
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := s.Get(t.Context(), key, buf); err != nil {
			t.Fatal(err)
		}
	})
	if s.ov.n.Load() == 0 {
		t.Fatal("the write left the overlay")
	}
	if allocs != 0 {
		t.Errorf("Get from the overlay: got %v allocs; want 0", allocs)
	}
}

// BenchmarkListOverlayInPages lists 100,000 writes not yet checkpointed
// page by page, 256 keys a page (each page a List from the last key of
// the one before, as the API's streamed listings do): each page costs
// about as much as its own length, not the overlay's size.
func BenchmarkListOverlayInPages(b *testing.B) {
	s, err := Open(b.TempDir(), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	s.commitTx = func(func(*bolt.Tx) error) error { return errInjected } // the writes stay in the overlay
	const total = 100000
	items := make([]store.Item, total)
	for i := range items {
		items[i] = store.Item{Key: fmt.Appendf(nil, "key%06d", i), Value: []byte("value")}
	}
	if err := s.PutAll(b.Context(), items); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		var after []byte
		n := 0
		for {
			page := 0
			err := s.List(b.Context(), store.ListOptions{After: after, Limit: 256}, func(it store.Item) error {
				after = append(after[:0], it.Key...)
				page++
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
			if n += page; page < 256 {
				break
			}
		}
		if n != total {
			b.Fatalf("listed %d keys; want %d", n, total)
		}
	}
}

// TestOverlayCursorRandom compares the cursor with a model over random
// overlays: keys from a small alphabet, so that prefixes, cursors and
// keys shadowed in active meet often.
func TestOverlayCursorRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	key := func() string {
		b := make([]byte, 1+rng.IntN(4))
		for i := range b {
			b[i] = "abc"[rng.IntN(3)]
		}
		return string(b)
	}
	for round := range 200 {
		fz, act := newMemtable(1), newMemtable(2)
		model := map[string]string{}
		for range rng.IntN(300) {
			k := key()
			fz.set([]byte(k), []byte("f"+k))
			model[k] = "f" + k
		}
		for range rng.IntN(300) {
			k := key()
			if rng.IntN(4) == 0 {
				act.set([]byte(k), nil)
				model[k] = "-"
				continue
			}
			act.set([]byte(k), []byte("a"+k))
			model[k] = "a" + k
		}
		ov := overlayOf(act, fz)
		prefix := key()
		prefix = prefix[:rng.IntN(min(3, len(prefix)+1))]
		var after []byte
		if rng.IntN(2) == 0 {
			after = []byte(key())
		}
		var want []string
		for k, v := range model {
			if strings.HasPrefix(k, prefix) && (after == nil || k > string(after)) {
				want = append(want, k+"="+v)
			}
		}
		slices.Sort(want)
		if got := walk(newOvCursor(ov.snapshot(), []byte(prefix), after)); !slices.Equal(got, want) {
			t.Fatalf("round %d, prefix %q after %q: got %v; want %v", round, prefix, after, got, want)
		}
	}
}
