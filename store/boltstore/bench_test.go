package boltstore_test

import (
	"bytes"
	"fmt"
	"testing"

	"kvhttp/store"
)

func BenchmarkGet(b *testing.B) {
	s := open(b, b.TempDir())
	key := []byte("key")
	if _, err := s.Put(b.Context(), key, bytes.Repeat([]byte{'v'}, 1024), []byte("text/plain"), store.Cond{}); err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 0, 4096)
	b.ReportAllocs()
	for b.Loop() {
		it, err := s.Get(b.Context(), key, buf)
		if err != nil {
			b.Fatal(err)
		}
		buf = it.Value[:0]
	}
}

// BenchmarkPut measures durable writes: each one waits for an fsync.
func BenchmarkPut(b *testing.B) {
	s := open(b, b.TempDir())
	keys := make([][]byte, 1000)
	for i := range keys {
		keys[i] = fmt.Appendf(nil, "key/%04d", i)
	}
	value := bytes.Repeat([]byte{'v'}, 100)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := s.Put(b.Context(), keys[i%len(keys)], value, nil, store.Cond{}); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkList(b *testing.B) {
	s := open(b, b.TempDir())
	items := make([]store.Item, 1000)
	for i := range items {
		items[i] = store.Item{Key: fmt.Appendf(nil, "key/%04d", i), Value: bytes.Repeat([]byte{'v'}, 100)}
	}
	if err := s.PutAll(b.Context(), items); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		n := 0
		err := s.List(b.Context(), store.ListOptions{}, func(store.Item) error {
			n++
			return nil
		})
		if err != nil || n != len(items) {
			b.Fatalf("List: got %d items, %v; want %d, nil", n, err, len(items))
		}
	}
}
