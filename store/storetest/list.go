package storetest

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"kvhttp/api"
	"kvhttp/store"
)

// putKeys stores each key with its key as value, in one batch.
func putKeys(t *testing.T, s api.Store, keys ...string) {
	t.Helper()
	items := make([]store.Item, len(keys))
	for i, k := range keys {
		items[i] = store.Item{Key: []byte(k), Value: []byte("value of " + k)}
	}
	mustPutAll(t, s, items)
}

// listKeys returns the keys List passes to fn, checking that each item's
// value is the one putKeys stored.
func listKeys(t *testing.T, s api.Store, opts store.ListOptions) []string {
	t.Helper()
	keys := []string{}
	err := s.List(t.Context(), opts, func(it store.Item) error {
		if want := "value of " + string(it.Key); string(it.Value) != want {
			t.Errorf("Value of %q: got %q; want %q", it.Key, it.Value, want)
		}
		keys = append(keys, string(it.Key))
		return nil
	})
	if err != nil {
		t.Fatalf("List(%+v): %v", opts, err)
	}
	return keys
}

func testListOrder(t *testing.T, s api.Store) {
	// Byte order, which differs from "natural" order: NUL and '/' sort
	// before '0', upper case before lower case, 0xff after everything.
	putKeys(t, s, "b", "a0", "\xff", "a\x00", "a/b", "A", "a", "a\xff", "ab")
	want := []string{"A", "a", "a\x00", "a/b", "a0", "ab", "a\xff", "b", "\xff"}
	if got := listKeys(t, s, store.ListOptions{}); !slices.Equal(got, want) {
		t.Errorf("List: got %q; want %q", got, want)
	}
}

func testListOptions(t *testing.T, s api.Store) {
	putKeys(t, s, "c", "a/2", "a", "b/1", "a/3", "a\x00", "a0", "ab", "b", "a/1")
	all := []string{"a", "a\x00", "a/1", "a/2", "a/3", "a0", "ab", "b", "b/1", "c"}
	tests := []struct {
		name string
		opts store.ListOptions
		want []string
	}{
		{"all", store.ListOptions{}, all},
		{"empty prefix and after", store.ListOptions{Prefix: []byte{}, After: []byte{}}, all},
		{"prefix", store.ListOptions{Prefix: []byte("a/")}, []string{"a/1", "a/2", "a/3"}},
		{"prefix that is a key", store.ListOptions{Prefix: []byte("a")}, all[:7]},
		{"prefix without keys", store.ListOptions{Prefix: []byte("a/4")}, []string{}},
		{"prefix after all keys", store.ListOptions{Prefix: []byte("d")}, []string{}},
		{"after a key", store.ListOptions{After: []byte("a/1")}, all[3:]},
		{"after an absent key", store.ListOptions{After: []byte("a/15")}, all[3:]},
		{"after the last key", store.ListOptions{After: []byte("c")}, []string{}},
		{"after all keys", store.ListOptions{After: []byte("\xff")}, []string{}},
		{"after before all keys", store.ListOptions{After: []byte("\x00")}, all},
		{"prefix and after inside it", store.ListOptions{Prefix: []byte("a/"), After: []byte("a/1")}, []string{"a/2", "a/3"}},
		{"prefix and after before it", store.ListOptions{Prefix: []byte("a/"), After: []byte("a")}, []string{"a/1", "a/2", "a/3"}},
		{"prefix and after past its keys", store.ListOptions{Prefix: []byte("a/"), After: []byte("a/9")}, []string{}},
		{"prefix and after beyond it", store.ListOptions{Prefix: []byte("a/"), After: []byte("b")}, []string{}},
		{"limit", store.ListOptions{Limit: 2}, all[:2]},
		{"limit above count", store.ListOptions{Limit: 100}, all},
		{"limit equal to count", store.ListOptions{Limit: len(all)}, all},
		{"prefix and limit", store.ListOptions{Prefix: []byte("a/"), Limit: 2}, []string{"a/1", "a/2"}},
		{"prefix, after and limit", store.ListOptions{Prefix: []byte("a/"), After: []byte("a/1"), Limit: 1}, []string{"a/2"}},
		{"after and limit", store.ListOptions{After: []byte("ab"), Limit: 2}, []string{"b", "b/1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := listKeys(t, s, tt.opts); !slices.Equal(got, tt.want) {
				t.Errorf("List(%+v): got %q; want %q", tt.opts, got, tt.want)
			}
		})
	}
}

func testListPaging(t *testing.T, s api.Store) {
	const n, pageSize = 2500, 100
	want := make([]string, n)
	for i := range want {
		want[i] = fmt.Sprintf("page/%04d", i)
	}
	// Insert out of order, with neighbours outside the prefix.
	keys := append(slices.Clone(want), "page", "page.", "pagd", "pagf")
	rand.New(rand.NewPCG(1, 2)).Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
	putKeys(t, s, keys...)

	var got []string
	opts := store.ListOptions{Prefix: []byte("page/"), Limit: pageSize}
	for pages := 0; ; pages++ {
		if pages > n/pageSize {
			t.Fatalf("pages: got more than %d; want %d and an empty one", pages, n/pageSize)
		}
		page := listKeys(t, s, opts)
		if len(page) == 0 {
			break
		}
		if len(page) > pageSize {
			t.Fatalf("page %d: got %d items; want at most %d", pages, len(page), pageSize)
		}
		got = append(got, page...)
		opts.After = []byte(page[len(page)-1])
	}
	if !slices.Equal(got, want) {
		t.Errorf("paged keys: got %d keys, first %q; want %d keys in order, each once", len(got), got[:min(len(got), 3)], n)
	}
}

func testListFnError(t *testing.T, s api.Store) {
	putKeys(t, s, "a", "b", "c", "d", "e")
	var seen []string
	err := s.List(t.Context(), store.ListOptions{}, func(it store.Item) error {
		seen = append(seen, string(it.Key))
		if len(seen) == 3 {
			return errStop
		}
		return nil
	})
	wantErr(t, "List", err, errStop)
	if want := []string{"a", "b", "c"}; !slices.Equal(seen, want) {
		t.Errorf("keys seen: got %q; want %q", seen, want)
	}
}

func testListItemsValidDuringFn(t *testing.T, s api.Store) {
	mustPutAll(t, s, []store.Item{
		{Key: []byte("json"), Value: []byte(`{"a":1}`), ContentType: []byte("application/json")},
		{Key: []byte("text"), Value: []byte("hello"), ContentType: []byte("text/plain")},
		{Key: []byte("bin"), Value: []byte(allBytes(2))},
		{Key: []byte("empty"), Value: nil},
	})
	want := make(map[string]store.Item)
	for _, k := range []string{"json", "text", "bin", "empty"} {
		want[k] = mustGet(t, s, k)
	}
	n := 0
	err := s.List(t.Context(), store.ListOptions{}, func(it store.Item) error {
		n++
		if w := want[string(it.Key)]; !equalItems(it, w) {
			t.Errorf("item %q: got %q %q v%d; want %q %q v%d", it.Key, it.Value, it.ContentType, it.Version, w.Value, w.ContentType, w.Version)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != len(want) {
		t.Errorf("items: got %v; want %v", n, len(want))
	}
}
