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
