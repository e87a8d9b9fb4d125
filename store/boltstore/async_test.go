package boltstore

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	berrors "go.etcd.io/bbolt/errors"

	"kvhttp/store"
)

// asyncTimeout bounds every wait for then callbacks: a test fails rather
// than hangs when one never comes.
const asyncTimeout = 10 * time.Second

// asyncOutcome is what a then callback was called with.
type asyncOutcome struct {
	res store.Result
	err error
}

// callbacks hands out then callbacks, one per expected outcome, and
// records how often each was called and what its first call got.
type callbacks struct {
	calls  []atomic.Int32
	got    []asyncOutcome // written by the first call only
	called atomic.Int64   // first calls so far
	wg     sync.WaitGroup
	// onCall, if set, runs at each call, before the outcome is recorded.
	onCall func(i int)
}

func newCallbacks(n int) *callbacks {
	c := &callbacks{calls: make([]atomic.Int32, n), got: make([]asyncOutcome, n)}
	c.wg.Add(n)
	return c
}

// then returns the callback for outcome i.
func (c *callbacks) then(i int) func(store.Result, error) {
	return func(res store.Result, err error) {
		if c.onCall != nil {
			c.onCall(i)
		}
		if c.calls[i].Add(1) != 1 {
			return // counted; checkOnce reports it
		}
		c.got[i] = asyncOutcome{res, err}
		c.called.Add(1)
		c.wg.Done()
	}
}

// forget is for a submission that failed at once: its callback must never
// be called, so it is not waited for.
func (c *callbacks) forget() { c.wg.Done() }

// wait waits for the first call of every callback, failing the test after
// asyncTimeout.
func (c *callbacks) wait(t *testing.T, what string) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		c.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(asyncTimeout):
		t.Fatalf("%s: then callbacks called within %v: got %d; want %d", what, asyncTimeout, c.called.Load(), len(c.calls))
	}
}

// checkOnce checks that every callback was called exactly once.
func (c *callbacks) checkOnce(t *testing.T, what string) {
	t.Helper()
	bad := newErrLimit(t, what+": ops whose then was not called exactly once")
	for i := range c.calls {
		if n := c.calls[i].Load(); n != 1 {
			bad.errorf("%s: op %d: then calls: got %d; want 1", what, i, n)
		}
	}
	bad.done()
}

// errLimit reports the first few of many similar failures, and then how
// many there were in all.
type errLimit struct {
	t    *testing.T
	what string
	n    int
}

func newErrLimit(t *testing.T, what string) *errLimit { return &errLimit{t: t, what: what} }

func (e *errLimit) errorf(format string, args ...any) {
	e.t.Helper()
	if e.n++; e.n <= 5 {
		e.t.Errorf(format, args...)
	}
}

func (e *errLimit) done() {
	e.t.Helper()
	if e.n > 5 {
		e.t.Errorf("%s: got %d; want 0", e.what, e.n)
	}
}

// never returns a callback that must not be called, and the count of its
// calls.
func never() (func(store.Result, error), *atomic.Int32) {
	var n atomic.Int32
	return func(store.Result, error) { n.Add(1) }, &n
}

// putAsyncWait runs PutAsync and waits for its outcome.
func putAsyncWait(t *testing.T, s *Store, key, value, contentType []byte, cond store.Cond) (store.Result, error) {
	t.Helper()
	c := newCallbacks(1)
	if err := s.PutAsync(key, value, contentType, cond, c.then(0)); err != nil {
		t.Fatalf("PutAsync(%q): got %v; want nil", key, err)
	}
	c.wait(t, fmt.Sprintf("PutAsync(%q)", key))
	return c.got[0].res, c.got[0].err
}

// deleteAsyncWait runs DeleteAsync and waits for its outcome.
func deleteAsyncWait(t *testing.T, s *Store, key []byte, cond store.Cond) (store.Result, error) {
	t.Helper()
	c := newCallbacks(1)
	if err := s.DeleteAsync(key, cond, c.then(0)); err != nil {
		t.Fatalf("DeleteAsync(%q): got %v; want nil", key, err)
	}
	c.wait(t, fmt.Sprintf("DeleteAsync(%q)", key))
	return c.got[0].res, c.got[0].err
}

// TestPutAsyncThenGet: once then has been called, Get sees the write;
// Created says whether the key was new, and versions increase.
func TestPutAsyncThenGet(t *testing.T) {
	s := openStarted(t)
	steps := []struct {
		name        string
		del         bool
		key         string
		value       string
		contentType string
		created     bool
	}{
		{name: "create a", key: "a", value: "a1", created: true},
		{name: "replace a", key: "a", value: "a2", contentType: "text/plain", created: false},
		{name: "create b", key: "b", value: "b1", contentType: "application/json", created: true},
		{name: "replace a with empty value", key: "a", value: "", created: false},
		{name: "delete a", del: true, key: "a"},
		{name: "create a again", key: "a", value: "a3", created: true},
		{name: "replace b", key: "b", value: "b2", created: false},
	}
	var last uint64
	for _, st := range steps {
		if st.del {
			res, err := deleteAsyncWait(t, s, []byte(st.key), store.Cond{})
			if err != nil || res != (store.Result{}) {
				t.Errorf("%s: then: got %+v, %v; want %+v, nil", st.name, res, err, store.Result{})
			}
			if _, err := s.Get(t.Context(), []byte(st.key), nil); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("%s: Get: got %v; want %v", st.name, err, store.ErrNotFound)
			}
			continue
		}
		res, err := putAsyncWait(t, s, []byte(st.key), []byte(st.value), []byte(st.contentType), store.Cond{})
		if err != nil {
			t.Errorf("%s: then: got %v; want nil", st.name, err)
			continue
		}
		if res.Created != st.created {
			t.Errorf("%s: Created: got %v; want %v", st.name, res.Created, st.created)
		}
		if res.Version <= last {
			t.Errorf("%s: Version: got %d; want more than %d", st.name, res.Version, last)
		}
		last = res.Version
		it, err := s.Get(t.Context(), []byte(st.key), nil)
		if err != nil {
			t.Errorf("%s: Get: got %v; want nil", st.name, err)
			continue
		}
		if string(it.Value) != st.value || string(it.ContentType) != st.contentType || it.Version != res.Version {
			t.Errorf("%s: Get: got %q %q v%d; want %q %q v%d", st.name, it.Value, it.ContentType, it.Version, st.value, st.contentType, res.Version)
		}
	}
}

// TestAsyncConditionFails: a failed condition reaches then as the error
// the synchronous call returns, and changes nothing.
func TestAsyncConditionFails(t *testing.T) {
	s := openStarted(t)
	ctx := t.Context()
	seed, err := s.Put(ctx, []byte("old"), []byte("seed"), nil, store.Cond{})
	if err != nil {
		t.Fatal(err)
	}
	stale := store.Cond{Kind: store.IfVersion, Version: seed.Version + 1000}
	tests := []struct {
		name  string
		async func(then func(store.Result, error)) error
		sync  func() error
		want  error
	}{
		{
			"PutAsync IfAbsent on an existing key",
			func(then func(store.Result, error)) error {
				return s.PutAsync([]byte("old"), []byte("new"), nil, store.Cond{Kind: store.IfAbsent}, then)
			},
			func() error {
				_, err := s.Put(ctx, []byte("old"), []byte("new"), nil, store.Cond{Kind: store.IfAbsent})
				return err
			},
			store.ErrExists,
		},
		{
			"PutAsync IfVersion mismatch",
			func(then func(store.Result, error)) error {
				return s.PutAsync([]byte("old"), []byte("new"), nil, stale, then)
			},
			func() error {
				_, err := s.Put(ctx, []byte("old"), []byte("new"), nil, stale)
				return err
			},
			store.ErrVersionMismatch,
		},
		{
			"PutAsync IfVersion on a missing key",
			func(then func(store.Result, error)) error {
				return s.PutAsync([]byte("missing"), []byte("new"), nil, store.Cond{Kind: store.IfVersion, Version: seed.Version}, then)
			},
			func() error {
				_, err := s.Put(ctx, []byte("missing"), []byte("new"), nil, store.Cond{Kind: store.IfVersion, Version: seed.Version})
				return err
			},
			store.ErrNotFound,
		},
		{
			"PutAsync IfPresent on a missing key",
			func(then func(store.Result, error)) error {
				return s.PutAsync([]byte("missing"), []byte("new"), nil, store.Cond{Kind: store.IfPresent}, then)
			},
			func() error {
				_, err := s.Put(ctx, []byte("missing"), []byte("new"), nil, store.Cond{Kind: store.IfPresent})
				return err
			},
			store.ErrNotFound,
		},
		{
			"DeleteAsync of a missing key",
			func(then func(store.Result, error)) error {
				return s.DeleteAsync([]byte("missing"), store.Cond{}, then)
			},
			func() error { return s.Delete(ctx, []byte("missing"), store.Cond{}) },
			store.ErrNotFound,
		},
		{
			"DeleteAsync IfPresent of a missing key",
			func(then func(store.Result, error)) error {
				return s.DeleteAsync([]byte("missing"), store.Cond{Kind: store.IfPresent}, then)
			},
			func() error { return s.Delete(ctx, []byte("missing"), store.Cond{Kind: store.IfPresent}) },
			store.ErrNotFound,
		},
		{
			"DeleteAsync IfVersion mismatch",
			func(then func(store.Result, error)) error {
				return s.DeleteAsync([]byte("old"), stale, then)
			},
			func() error { return s.Delete(ctx, []byte("old"), stale) },
			store.ErrVersionMismatch,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCallbacks(1)
			if err := tt.async(c.then(0)); err != nil {
				t.Fatalf("submit: got %v; want nil", err)
			}
			c.wait(t, tt.name)
			got := c.got[0]
			if !errors.Is(got.err, tt.want) {
				t.Errorf("then: got %v; want %v", got.err, tt.want)
			}
			if got.res != (store.Result{}) {
				t.Errorf("then: Result: got %+v; want %+v", got.res, store.Result{})
			}
			if serr := tt.sync(); got.err == nil || serr == nil || got.err.Error() != serr.Error() {
				t.Errorf("then: error: got %v; want %v, as the synchronous call", got.err, serr)
			}
			it, err := s.Get(ctx, []byte("old"), nil)
			if err != nil || string(it.Value) != "seed" || it.Version != seed.Version {
				t.Errorf("Get(old) after: got %q v%d, %v; want %q v%d, nil", it.Value, it.Version, err, "seed", seed.Version)
			}
			if _, err := s.Get(ctx, []byte("missing"), nil); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("Get(missing) after: got %v; want %v", err, store.ErrNotFound)
			}
		})
	}
}

// TestAsyncConditionsConcurrent submits many async writes at once, some
// of whose conditions fail: each gets its own outcome, and the failures
// change nothing and fail no other write.
func TestAsyncConditionsConcurrent(t *testing.T) {
	const (
		perKind   = 100
		feeders   = 8
		noVersion = uint64(1) << 62 // a version no key has
		seedValue = "seed"
		newValue  = "new"
	)
	type submitFunc func(s *Store, key []byte, version uint64, then func(store.Result, error)) error
	put := func(cond func(version uint64) store.Cond) submitFunc {
		return func(s *Store, key []byte, version uint64, then func(store.Result, error)) error {
			return s.PutAsync(key, []byte(newValue), nil, cond(version), then)
		}
	}
	del := func(cond func(version uint64) store.Cond) submitFunc {
		return func(s *Store, key []byte, version uint64, then func(store.Result, error)) error {
			return s.DeleteAsync(key, cond(version), then)
		}
	}
	always := func(uint64) store.Cond { return store.Cond{} }
	ifAbsent := func(uint64) store.Cond { return store.Cond{Kind: store.IfAbsent} }
	ifPresent := func(uint64) store.Cond { return store.Cond{Kind: store.IfPresent} }
	ifVersion := func(v uint64) store.Cond { return store.Cond{Kind: store.IfVersion, Version: v} }
	ifStale := func(uint64) store.Cond { return store.Cond{Kind: store.IfVersion, Version: noVersion} }
	kinds := []struct {
		name    string
		seeded  bool // the key exists before
		submit  submitFunc
		want    error
		created bool
		after   string // the key's value afterwards; "" for absent
	}{
		{name: "create", submit: put(ifAbsent), created: true, after: newValue},
		{name: "create-existing", seeded: true, submit: put(ifAbsent), want: store.ErrExists, after: seedValue},
		{name: "overwrite", seeded: true, submit: put(always), after: newValue},
		{name: "update-missing", submit: put(ifPresent), want: store.ErrNotFound},
		{name: "cas", seeded: true, submit: put(ifVersion), after: newValue},
		{name: "cas-stale", seeded: true, submit: put(ifStale), want: store.ErrVersionMismatch, after: seedValue},
		{name: "cas-missing", submit: put(ifVersion), want: store.ErrNotFound},
		{name: "delete", seeded: true, submit: del(always), after: ""},
		{name: "delete-missing", submit: del(always), want: store.ErrNotFound},
		{name: "delete-cas", seeded: true, submit: del(ifVersion), after: ""},
		{name: "delete-stale", seeded: true, submit: del(ifStale), want: store.ErrVersionMismatch, after: seedValue},
	}

	s := openStarted(t)
	ctx := t.Context()
	key := func(kind string, i int) []byte { return fmt.Appendf(nil, "%s/%03d", kind, i) }
	var seeds []store.Item
	for _, k := range kinds {
		if k.seeded {
			for i := range perKind {
				seeds = append(seeds, store.Item{Key: key(k.name, i), Value: []byte(seedValue)})
			}
		}
	}
	if err := s.PutAll(ctx, seeds); err != nil {
		t.Fatal(err)
	}
	versions := make(map[string]uint64)
	for _, it := range seeds {
		got, err := s.Get(ctx, it.Key, nil)
		if err != nil {
			t.Fatal(err)
		}
		versions[string(it.Key)] = got.Version
	}

	// op j is kind j%len(kinds), key index j/len(kinds); feeder f submits
	// the ops j with j%feeders == f, all feeders released at once.
	n := perKind * len(kinds)
	c := newCallbacks(n)
	start := make(chan struct{})
	var fed sync.WaitGroup
	for f := range feeders {
		fed.Go(func() {
			<-start
			for j := f; j < n; j += feeders {
				k := kinds[j%len(kinds)]
				kk := key(k.name, j/len(kinds))
				if err := k.submit(s, kk, versions[string(kk)], c.then(j)); err != nil {
					t.Errorf("%s: submit: got %v; want nil", kk, err)
					c.forget()
				}
			}
		})
	}
	close(start)
	fed.Wait()
	c.wait(t, "concurrent async writes")
	c.checkOnce(t, "concurrent async writes")

	var last uint64
	for _, v := range versions {
		last = max(last, v)
	}
	for j := range n {
		k := kinds[j%len(kinds)]
		kk := key(k.name, j/len(kinds))
		got := c.got[j]
		if !errors.Is(got.err, k.want) || (k.want == nil && got.err != nil) {
			t.Errorf("%s: then: got %v; want %v", kk, got.err, k.want)
			continue
		}
		if got.err != nil || strings.HasPrefix(k.name, "delete") {
			if got.res != (store.Result{}) {
				t.Errorf("%s: then: Result: got %+v; want %+v", kk, got.res, store.Result{})
			}
		} else if got.res.Created != k.created || got.res.Version <= last {
			t.Errorf("%s: then: Result: got %+v; want Created %v and a version above %d", kk, got.res, k.created, last)
		}
		it, err := s.Get(ctx, kk, nil)
		switch {
		case k.after == "":
			if !errors.Is(err, store.ErrNotFound) {
				t.Errorf("%s: Get after: got %q, %v; want %v", kk, it.Value, err, store.ErrNotFound)
			}
		case err != nil || string(it.Value) != k.after:
			t.Errorf("%s: Get after: got %q, %v; want %q, nil", kk, it.Value, err, k.after)
		case k.after == seedValue && it.Version != versions[string(kk)]:
			t.Errorf("%s: Get after: version: got %d; want %d (unchanged)", kk, it.Version, versions[string(kk)])
		case k.after == newValue && it.Version != got.res.Version:
			t.Errorf("%s: Get after: version: got %d; want %d (from then)", kk, it.Version, got.res.Version)
		}
	}
}

// TestAsyncReusedBuffers: the caller overwrites its key, value and content
// type buffers as soon as PutAsync or DeleteAsync returns, reusing them
// for the next call; every write still has what was passed.
func TestAsyncReusedBuffers(t *testing.T) {
	tests := []struct {
		name     string
		n        int
		valueLen int
	}{
		{"small values", 1000, 16},
		{"values too large for the pool", 32, maxPooledRec + 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openStarted(t)
			ctx := t.Context()
			value := func(i int) []byte {
				v := fmt.Appendf(nil, "value %d:", i)
				return append(v, bytes.Repeat([]byte{byte('a' + i%26)}, tt.valueLen-len(v))...)
			}
			keyBuf := make([]byte, 0, 64)
			valueBuf := make([]byte, 0, tt.valueLen)
			ctBuf := make([]byte, 0, 64)
			scribble := func() {
				for _, b := range [][]byte{keyBuf, valueBuf, ctBuf} {
					b = b[:cap(b)]
					for i := range b {
						b[i] = 'X'
					}
				}
			}

			puts := newCallbacks(tt.n)
			for i := range tt.n {
				keyBuf = fmt.Appendf(keyBuf[:0], "key/%04d", i)
				valueBuf = append(valueBuf[:0], value(i)...)
				ctBuf = fmt.Appendf(ctBuf[:0], "type/%d", i)
				if err := s.PutAsync(keyBuf, valueBuf, ctBuf, store.Cond{}, puts.then(i)); err != nil {
					t.Fatalf("PutAsync %d: got %v; want nil", i, err)
				}
				scribble()
			}
			puts.wait(t, "puts")
			puts.checkOnce(t, "puts")
			for i := range tt.n {
				if err := puts.got[i].err; err != nil {
					t.Errorf("PutAsync %d: then: got %v; want nil", i, err)
				}
				k := fmt.Sprintf("key/%04d", i)
				it, err := s.Get(ctx, []byte(k), nil)
				switch {
				case err != nil:
					t.Errorf("Get(%s): got %v; want nil", k, err)
				case !bytes.Equal(it.Value, value(i)) || string(it.ContentType) != fmt.Sprintf("type/%d", i):
					t.Errorf("Get(%s): got value of %d bytes starting %.16q, type %q; want %.16q, %q",
						k, len(it.Value), it.Value, it.ContentType, value(i), fmt.Sprintf("type/%d", i))
				}
			}
			if x, err := s.Get(ctx, bytes.Repeat([]byte{'X'}, cap(keyBuf)), nil); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("Get of the scribbled key: got %q, %v; want %v", x.Value, err, store.ErrNotFound)
			}

			// Delete the even keys through the same reused buffer.
			dels := newCallbacks((tt.n + 1) / 2)
			for i := 0; i < tt.n; i += 2 {
				keyBuf = fmt.Appendf(keyBuf[:0], "key/%04d", i)
				if err := s.DeleteAsync(keyBuf, store.Cond{}, dels.then(i/2)); err != nil {
					t.Fatalf("DeleteAsync %d: got %v; want nil", i, err)
				}
				scribble()
			}
			dels.wait(t, "deletes")
			dels.checkOnce(t, "deletes")
			for i := range tt.n {
				k := fmt.Sprintf("key/%04d", i)
				_, err := s.Get(ctx, []byte(k), nil)
				if i%2 == 0 {
					if derr := dels.got[i/2].err; derr != nil {
						t.Errorf("DeleteAsync(%s): then: got %v; want nil", k, derr)
					}
					if !errors.Is(err, store.ErrNotFound) {
						t.Errorf("Get(%s) after its delete: got %v; want %v", k, err, store.ErrNotFound)
					}
				} else if err != nil {
					t.Errorf("Get(%s), not deleted: got %v; want nil", k, err)
				}
			}
		})
	}
}

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
