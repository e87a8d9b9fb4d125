package boltstore

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"unsafe"

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

// entryOrderCases are pairs of keys around the 16 bytes an entry holds
// inline: zero bytes, shorter keys that are prefixes, and keys alike up to
// or past byte 16.
var entryOrderCases = [][2]string{
	{"a", "b"},
	{"a", "a"},
	{"a", "a\x00"},
	{"", "\x00"},
	{"", "a"},
	{"x", "x\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00y"},
	{"0123456789abcdef", "0123456789abcdef"},
	{"0123456789abcdef", "0123456789abcdef\x00"},
	{"0123456789abcdefA", "0123456789abcdefB"},
	{"0123456789abcdefB", "0123456789abcdef"},
	{"01234567", "01234567\x00"},
	{"bench000123", "bench000124"},
	{"\xff\xff\xff\xff\xff\xff\xff\xff", "\xff\xff\xff\xff\xff\xff\xff"},
}

// checkEntryOrder fails t unless entries compare as their keys do.
func checkEntryOrder(t *testing.T, a, b string) {
	t.Helper()
	ea, eb := newEntry(a, nil), newEntry(b, nil)
	if got, want := entryLess(ea, eb), a < b; got != want {
		t.Errorf("entryLess(%q, %q) = %v; want %v", a, b, got, want)
	}
	if got, want := entryLess(eb, ea), b < a; got != want {
		t.Errorf("entryLess(%q, %q) = %v; want %v", b, a, got, want)
	}
}

func TestEntryLessIsKeyOrder(t *testing.T) {
	for _, c := range entryOrderCases {
		checkEntryOrder(t, c[0], c[1])
	}
	// Random keys over a small alphabet with zeros, of lengths around 16,
	// so that long common prefixes and pads meet often.
	r := rand.New(rand.NewPCG(1, 2))
	key := func() string {
		b := make([]byte, r.IntN(20))
		for i := range b {
			b[i] = "\x00ab\xff"[r.IntN(4)]
		}
		return string(b)
	}
	for range 20000 {
		checkEntryOrder(t, key(), key())
	}
}

func FuzzEntryLess(f *testing.F) {
	for _, c := range entryOrderCases {
		f.Add(c[0], c[1])
	}
	f.Fuzz(checkEntryOrder)
}

// BenchmarkMemtableLookupInsert measures what the committer does with the
// overlay for each key it writes: one lookup and one insert in a memtable
// of 10,000 keys alike in their first bytes, as a benchmark's are.
func BenchmarkMemtableLookupInsert(b *testing.B) {
	mt := newMemtable(1)
	keys := make([][]byte, 10000)
	for i := range keys {
		keys[i] = fmt.Appendf(nil, "bench%06d", i)
		mt.set(keys[i], []byte("v"))
	}
	rec := []byte("w")
	r := rand.New(rand.NewPCG(1, 2))
	b.ReportAllocs()
	for b.Loop() {
		k := keys[r.IntN(len(keys))]
		if _, ok := mt.get(k); !ok {
			b.Fatalf("%s missing", k)
		}
		mt.put(unsafe.String(unsafe.SliceData(k), len(k)), rec)
	}
}
