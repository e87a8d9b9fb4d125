package boltstore_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"kvhttp/api"
	"kvhttp/store"
	"kvhttp/store/boltstore"
	"kvhttp/store/storetest"
)

var _ api.Store = (*boltstore.Store)(nil)

// open opens a store in dir and closes it when the test ends.
func open(t testing.TB, dir string) *boltstore.Store {
	t.Helper()
	s, err := boltstore.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	return s
}

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) api.Store { return open(t, t.TempDir()) })
}

func TestOpenCreatesDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	s := open(t, dir)
	if want := filepath.Join(dir, boltstore.FileName); s.Path() != want {
		t.Errorf("Path: got %v; want %v", s.Path(), want)
	}
	for _, tt := range []struct {
		path string
		mode os.FileMode
	}{
		{dir, os.ModeDir | 0o700},
		{s.Path(), 0o600},
	} {
		fi, err := os.Stat(tt.path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != tt.mode {
			t.Errorf("mode of %s: got %v; want %v", tt.path, fi.Mode(), tt.mode)
		}
	}
}

func TestReopen(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	s, err := boltstore.Open(dir, &boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var last uint64
	want := make(map[string]store.Item)
	for _, k := range []string{"a", "b", "a", "c"} {
		res, err := s.Put(ctx, []byte(k), []byte("v-"+k), []byte("text/plain"), store.Cond{})
		if err != nil {
			t.Fatal(err)
		}
		want[k] = store.Item{Key: []byte(k), Value: []byte("v-" + k), ContentType: []byte("text/plain"), Version: res.Version}
		last = max(last, res.Version)
	}
	if err := s.Delete(ctx, []byte("c"), store.Cond{}); err != nil {
		t.Fatal(err)
	}
	delete(want, "c")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = open(t, dir)
	for k, w := range want {
		it, err := s.Get(ctx, []byte(k), nil)
		if err != nil {
			t.Fatalf("Get(%q) after reopen: %v", k, err)
		}
		if !bytes.Equal(it.Value, w.Value) || !bytes.Equal(it.ContentType, w.ContentType) || it.Version != w.Version {
			t.Errorf("Get(%q) after reopen: got %q %q v%d; want %q %q v%d", k, it.Value, it.ContentType, it.Version, w.Value, w.ContentType, w.Version)
		}
	}
	if _, err := s.Get(ctx, []byte("c"), nil); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Get(deleted key) after reopen: got %v; want %v", err, store.ErrNotFound)
	}
	res, err := s.Put(ctx, []byte("c"), []byte("again"), nil, store.Cond{Kind: store.IfAbsent})
	if err != nil {
		t.Fatal(err)
	}
	if res.Version <= last {
		t.Errorf("version after reopen: got %v; want more than %v", res.Version, last)
	}
}

func TestLocked(t *testing.T) {
	dir := t.TempDir()
	first := open(t, dir)
	for _, timeout := range []time.Duration{0, 50 * time.Millisecond, 300 * time.Millisecond} {
		t.Run(fmt.Sprint(timeout), func(t *testing.T) {
			start := time.Now()
			s, err := boltstore.Open(dir, &boltstore.Options{LockTimeout: timeout})
			elapsed := time.Since(start)
			if err == nil {
				s.Close()
				t.Fatalf("second Open: got %v; want %v", err, store.ErrLocked)
			}
			if !errors.Is(err, store.ErrLocked) {
				t.Errorf("second Open: got %v; want %v", err, store.ErrLocked)
			}
			if !strings.Contains(err.Error(), first.Path()) {
				t.Errorf("error %q does not name %s", err, first.Path())
			}
			if timeout == 0 {
				timeout = boltstore.DefaultLockTimeout
			}
			if elapsed > timeout+time.Second {
				t.Errorf("second Open took %v; want about %v", elapsed, timeout)
			}
		})
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	open(t, dir) // the lock went with Close
}

func TestGarbageFile(t *testing.T) {
	rnd := rand.New(rand.NewPCG(3, 4))
	random := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rnd.Uint32())
		}
		return b
	}
	tests := []struct {
		name string
		data []byte
	}{
		{"short text", []byte("not a database\n")},
		{"random page", random(4096)},
		{"random pages", random(5000)},
		{"random large", random(64 << 10)},
		{"zeros", make([]byte, 16<<10)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, boltstore.FileName)
			if err := os.WriteFile(path, tt.data, 0o600); err != nil {
				t.Fatal(err)
			}
			s, err := boltstore.Open(dir, nil)
			if err == nil {
				s.Close()
			}
			if !errors.Is(err, store.ErrCorrupt) {
				t.Errorf("Open: got %v; want %v", err, store.ErrCorrupt)
			} else if !strings.Contains(err.Error(), path) {
				t.Errorf("error %q does not name %s", err, path)
			}
			got, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tt.data) {
				t.Errorf("file after Open: got %d bytes, changed; want the %d bytes written", len(got), len(tt.data))
			}
		})
	}
}

func TestPutAllLarge(t *testing.T) {
	s := open(t, t.TempDir())
	items := make([]store.Item, 10_000)
	for i := range items {
		items[i] = store.Item{Key: fmt.Appendf(nil, "item/%05d", i), Value: bytes.Repeat([]byte{'x'}, 100)}
	}
	start := time.Now()
	if err := s.PutAll(t.Context(), items); err != nil {
		t.Fatal(err)
	}
	t.Logf("PutAll of %d items took %v", len(items), time.Since(start))
	n := 0
	err := s.List(t.Context(), store.ListOptions{Prefix: []byte("item/")}, func(store.Item) error {
		n++
		return nil
	})
	if err != nil || n != len(items) {
		t.Errorf("List after PutAll: got %d items, %v; want %d, nil", n, err, len(items))
	}
}

// TestPutAllTooLarge: a PutAll beyond what one log frame may hold is
// refused before anything is written (the items share one value, so the
// test holds 1 MiB, not the gigabyte it names).
func TestPutAllTooLarge(t *testing.T) {
	s := open(t, t.TempDir())
	value := make([]byte, 1<<20)
	items := make([]store.Item, 1<<10+1) // over 1 GiB
	for i := range items {
		items[i] = store.Item{Key: fmt.Appendf(nil, "big/%05d", i), Value: value}
	}
	if err := s.PutAll(t.Context(), items); !errors.Is(err, boltstore.ErrBatchTooLarge) {
		t.Fatalf("got %v; want %v", err, boltstore.ErrBatchTooLarge)
	}
	if _, err := s.Get(t.Context(), items[0].Key, nil); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Get after a refused PutAll: got %v; want %v", err, store.ErrNotFound)
	}
}

// TestCloseWhileBusy closes the store under running calls, which must
// either finish or fail with ErrClosed.
func TestCloseWhileBusy(t *testing.T) {
	s := open(t, t.TempDir())
	ctx := context.Background()
	if _, err := s.Put(ctx, []byte("k"), []byte("v"), nil, store.Cond{}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for range 50 {
				var err error
				if i%2 == 0 {
					_, err = s.Get(ctx, []byte("k"), nil)
				} else {
					_, err = s.Put(ctx, []byte("k"), []byte("v"), nil, store.Cond{})
				}
				if errors.Is(err, store.ErrClosed) {
					return
				}
				if err != nil {
					t.Errorf("call during Close: got %v; want nil or %v", err, store.ErrClosed)
					return
				}
			}
		})
	}
	time.Sleep(5 * time.Millisecond)
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	wg.Wait()
}
