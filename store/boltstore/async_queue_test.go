package boltstore

import (
	"bytes"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"

	berrors "go.etcd.io/bbolt/errors"

	"kvhttp/store"
)

// TestAsyncMoreThanQueue submits more async writes than the queue holds,
// from one goroutine, without waiting: PutAsync must not block, and every
// write completes, its then called once.
func TestAsyncMoreThanQueue(t *testing.T) {
	tests := []struct {
		name string
		n    int
	}{
		{"half a queue", queueLen / 2},
		{"three queues", 3 * queueLen},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openStarted(t)
			ctx := t.Context()
			key := func(i int) []byte { return fmt.Appendf(nil, "key/%05d", i) }
			val := func(i int) []byte { return fmt.Appendf(nil, "value/%05d", i) }

			puts := newCallbacks(tt.n)
			for i := range tt.n {
				if err := s.PutAsync(key(i), val(i), nil, store.Cond{Kind: store.IfAbsent}, puts.then(i)); err != nil {
					t.Fatalf("PutAsync %d: got %v; want nil", i, err)
				}
			}
			puts.wait(t, "puts")
			puts.checkOnce(t, "puts")
			seen := make(map[uint64]int, tt.n)
			for i := range tt.n {
				got := puts.got[i]
				if got.err != nil || !got.res.Created {
					t.Errorf("PutAsync %d: then: got %+v, %v; want Created, nil", i, got.res, got.err)
					continue
				}
				if prev, dup := seen[got.res.Version]; dup {
					t.Errorf("PutAsync %d: version %d: got it for ops %d and %d; want each once", i, got.res.Version, prev, i)
				}
				seen[got.res.Version] = i
				it, err := s.Get(ctx, key(i), nil)
				if err != nil || !bytes.Equal(it.Value, val(i)) || it.Version != got.res.Version {
					t.Errorf("Get(%s): got %q v%d, %v; want %q v%d, nil", key(i), it.Value, it.Version, err, val(i), got.res.Version)
				}
			}

			dels := newCallbacks(tt.n)
			for i := range tt.n {
				if err := s.DeleteAsync(key(i), store.Cond{}, dels.then(i)); err != nil {
					t.Fatalf("DeleteAsync %d: got %v; want nil", i, err)
				}
			}
			dels.wait(t, "deletes")
			dels.checkOnce(t, "deletes")
			for i := range tt.n {
				if err := dels.got[i].err; err != nil {
					t.Errorf("DeleteAsync %d: then: got %v; want nil", i, err)
				}
				if _, err := s.Get(ctx, key(i), nil); !errors.Is(err, store.ErrNotFound) {
					t.Errorf("Get(%s) after its delete: got %v; want %v", key(i), err, store.ErrNotFound)
				}
			}
		})
	}
}

// TestAsyncAfterClose: once the store is closed, PutAsync and DeleteAsync
// fail at once with ErrClosed and never call then.
func TestAsyncAfterClose(t *testing.T) {
	s := openStarted(t)
	if _, err := s.Put(t.Context(), []byte("k"), []byte("v"), nil, store.Cond{}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	key := []byte("k")
	tests := []struct {
		name string
		do   func(then func(store.Result, error)) error
	}{
		{"PutAsync/Always", func(then func(store.Result, error)) error {
			return s.PutAsync(key, []byte("v2"), nil, store.Cond{}, then)
		}},
		{"PutAsync/IfAbsent", func(then func(store.Result, error)) error {
			return s.PutAsync([]byte("new"), []byte("v"), nil, store.Cond{Kind: store.IfAbsent}, then)
		}},
		{"DeleteAsync/Always", func(then func(store.Result, error)) error {
			return s.DeleteAsync(key, store.Cond{}, then)
		}},
		{"DeleteAsync/IfVersion", func(then func(store.Result, error)) error {
			return s.DeleteAsync(key, store.Cond{Kind: store.IfVersion, Version: 1}, then)
		}},
	}
	for _, tt := range tests {
		then, calls := never()
		if err := tt.do(then); !errors.Is(err, store.ErrClosed) {
			t.Errorf("%s after Close: got %v; want %v", tt.name, err, store.ErrClosed)
		}
		if n := calls.Load(); n != 0 {
			t.Errorf("%s after Close: then calls: got %d; want 0", tt.name, n)
		}
	}
}

// TestAsyncBeforeClose: async writes submitted before Close all get their
// then, with success, before Close returns, and are in the store when it
// is opened again; also when there were more of them than the queue holds.
func TestAsyncBeforeClose(t *testing.T) {
	tests := []struct {
		name string
		puts int // of new keys
		dels int // of keys written before
	}{
		{"a few", 50, 10},
		{"a queue's worth", queueLen - 100, 100},
		{"three queues", 3 * queueLen, 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			s, err := Open(dir, nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			ctx := t.Context()
			key := func(i int) []byte { return fmt.Appendf(nil, "key/%05d", i) }
			val := func(i int) []byte { return fmt.Appendf(nil, "value/%05d", i) }
			old := func(i int) []byte { return fmt.Appendf(nil, "old/%05d", i) }
			seeds := make([]store.Item, tt.dels)
			for i := range seeds {
				seeds[i] = store.Item{Key: old(i), Value: []byte("v")}
			}
			if err := s.PutAll(ctx, seeds); err != nil {
				t.Fatal(err)
			}

			var closeReturned atomic.Bool
			var late atomic.Int64 // calls after Close returned
			c := newCallbacks(tt.puts + tt.dels)
			c.onCall = func(int) {
				if closeReturned.Load() {
					late.Add(1)
				}
			}
			for i := range tt.puts {
				if err := s.PutAsync(key(i), val(i), nil, store.Cond{}, c.then(i)); err != nil {
					t.Fatalf("PutAsync %d: got %v; want nil", i, err)
				}
			}
			for i := range tt.dels {
				if err := s.DeleteAsync(old(i), store.Cond{}, c.then(tt.puts+i)); err != nil {
					t.Fatalf("DeleteAsync %d: got %v; want nil", i, err)
				}
			}
			if err := s.Close(); err != nil {
				t.Fatalf("Close: got %v; want nil", err)
			}
			closeReturned.Store(true)
			if got, want := c.called.Load(), int64(tt.puts+tt.dels); got != want {
				t.Errorf("then callbacks called when Close returned: got %d; want %d", got, want)
			}
			// Wait for any late ones, to report their outcomes too.
			c.wait(t, "async writes before Close")
			c.checkOnce(t, "async writes before Close")
			if n := late.Load(); n != 0 {
				t.Errorf("then callbacks called after Close returned: got %d; want 0", n)
			}
			failed := newErrLimit(t, "ops submitted before Close whose then got an error")
			for i, got := range c.got {
				if got.err != nil {
					failed.errorf("op %d submitted before Close: then: got %v; want nil", i, got.err)
				}
			}
			failed.done()

			s2 := reopen(t, dir)
			missing := newErrLimit(t, "writes submitted before Close not found after reopen")
			for i := range tt.puts {
				it, err := s2.Get(ctx, key(i), nil)
				if err != nil || !bytes.Equal(it.Value, val(i)) {
					missing.errorf("Get(%s) after reopen: got %q, %v; want %q, nil", key(i), it.Value, err, val(i))
				}
			}
			for i := range tt.dels {
				if _, err := s2.Get(ctx, old(i), nil); !errors.Is(err, store.ErrNotFound) {
					missing.errorf("Get(%s), deleted before Close, after reopen: got %v; want %v", old(i), err, store.ErrNotFound)
				}
			}
			missing.done()
		})
	}
}

// TestAsyncInvalid: invalid arguments fail at once, then is never called,
// and nothing is written.
func TestAsyncInvalid(t *testing.T) {
	s := openStarted(t)
	longType := bytes.Repeat([]byte{'t'}, store.MaxContentTypeLen+1)
	longKey := bytes.Repeat([]byte{'k'}, 32768+1) // over bbolt's MaxKeySize
	tests := []struct {
		name string
		key  []byte // must stay absent
		do   func(key []byte, then func(store.Result, error)) error
		want error
	}{
		{"PutAsync with an empty key", nil, func(_ []byte, then func(store.Result, error)) error {
			return s.PutAsync([]byte{}, []byte("v"), nil, store.Cond{}, then)
		}, store.ErrEmptyKey},
		{"PutAsync with a nil key", nil, func(_ []byte, then func(store.Result, error)) error {
			return s.PutAsync(nil, []byte("v"), nil, store.Cond{Kind: store.IfAbsent}, then)
		}, store.ErrEmptyKey},
		{"PutAsync with a long content type", []byte("k1"), func(key []byte, then func(store.Result, error)) error {
			return s.PutAsync(key, []byte("v"), longType, store.Cond{}, then)
		}, store.ErrContentTypeTooLong},
		{"PutAsync with a key too large", longKey, func(key []byte, then func(store.Result, error)) error {
			return s.PutAsync(key, []byte("v"), nil, store.Cond{}, then)
		}, berrors.ErrKeyTooLarge},
		{"DeleteAsync with an empty key", nil, func(_ []byte, then func(store.Result, error)) error {
			return s.DeleteAsync([]byte{}, store.Cond{}, then)
		}, store.ErrEmptyKey},
		{"DeleteAsync IfAbsent", []byte("k2"), func(key []byte, then func(store.Result, error)) error {
			return s.DeleteAsync(key, store.Cond{Kind: store.IfAbsent}, then)
		}, store.ErrInvalidCond},
	}
	calls := make([]*atomic.Int32, len(tests))
	for i, tt := range tests {
		then, n := never()
		calls[i] = n
		if err := tt.do(tt.key, then); !errors.Is(err, tt.want) {
			t.Errorf("%s: got %v; want %v", tt.name, err, tt.want)
		}
	}
	// A write queued after them has been committed after them: had any
	// been queued, its then would have run by now.
	if _, err := putAsyncWait(t, s, []byte("last"), []byte("v"), nil, store.Cond{}); err != nil {
		t.Fatalf("PutAsync after the invalid ones: got %v; want nil", err)
	}
	for i, tt := range tests {
		if n := calls[i].Load(); n != 0 {
			t.Errorf("%s: then calls: got %d; want 0", tt.name, n)
		}
		if tt.key != nil {
			if _, err := s.Get(t.Context(), tt.key, nil); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("%s: Get after: got %v; want %v", tt.name, err, store.ErrNotFound)
			}
		}
	}
}

// One caller's asynchronous writes are applied in the order it made them,
// also when they outrun the queue and wait in the overflow list.
func TestAsyncOrder(t *testing.T) {
	s := openStarted(t)
	n := 3 * queueLen
	key := []byte("counter")
	cbs := newCallbacks(n)
	for i := range n {
		if err := s.PutAsync(key, fmt.Appendf(nil, "%d", i), nil, store.Cond{}, cbs.then(i)); err != nil {
			t.Fatalf("PutAsync %d: got %v; want nil", i, err)
		}
	}
	cbs.wait(t, "puts")
	cbs.checkOnce(t, "puts")
	for i := 1; i < n; i++ {
		if prev, got := cbs.got[i-1].res.Version, cbs.got[i].res.Version; got <= prev {
			t.Fatalf("PutAsync %d: version: got %d after %d; want a later one", i, got, prev)
		}
	}
	it, err := s.Get(t.Context(), key, nil)
	if want := fmt.Appendf(nil, "%d", n-1); err != nil || !bytes.Equal(it.Value, want) {
		t.Errorf("Get: got %q, %v; want %q, nil", it.Value, err, want)
	}
}

// Past the overflow list's bound, PutAsync refuses with store.ErrBusy and
// does not call then; the writes it accepted all complete once the
// committer runs, in order.
func TestAsyncBusy(t *testing.T) {
	s := openIdle(t, t.TempDir()) // no committer yet: nothing leaves the queue
	accepted := queueLen + maxOver
	cbs := newCallbacks(accepted)
	for i := range accepted {
		if err := s.PutAsync(fmt.Appendf(nil, "k%d", i), []byte("v"), nil, store.Cond{}, cbs.then(i)); err != nil {
			t.Fatalf("PutAsync %d: got %v; want nil", i, err)
		}
	}
	for _, del := range []bool{false, true} {
		calls := 0
		then := func(store.Result, error) { calls++ }
		var err error
		if del {
			err = s.DeleteAsync([]byte("k0"), store.Cond{}, then)
		} else {
			err = s.PutAsync([]byte("one more"), []byte("v"), nil, store.Cond{}, then)
		}
		if !errors.Is(err, store.ErrBusy) {
			t.Errorf("delete %v, past the bound: got %v; want %v", del, err, store.ErrBusy)
		}
		defer func() {
			if calls != 0 {
				t.Errorf("delete %v, refused: then calls: got %d; want 0", del, calls)
			}
		}()
	}
	s.run()
	cbs.wait(t, "puts")
	cbs.checkOnce(t, "puts")
	for i := range accepted {
		if got := cbs.got[i]; got.err != nil || i > 0 && got.res.Version <= cbs.got[i-1].res.Version {
			t.Fatalf("PutAsync %d: then: got v%d, %v after v%d; want a later version, nil", i, got.res.Version, got.err, cbs.got[max(i-1, 0)].res.Version)
		}
	}
}
