package boltstore_test

import (
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"kvhttp/store"
	"kvhttp/store/boltstore"
)

// writers is how many goroutines the group-commit tests run at once: more
// than one batch's worth would be pointless, fewer would not fill batches.
const writers = 64

// together runs fn(w) for w in [0, writers) on as many goroutines, all
// released at once so that their writes land in the same batches, and
// waits for them.
func together(fn func(w int)) {
	var wg sync.WaitGroup
	start := make(chan struct{})
	for w := range writers {
		wg.Go(func() {
			<-start
			fn(w)
		})
	}
	close(start)
	wg.Wait()
}

func TestGroupCreateOnly(t *testing.T) {
	s := open(t, t.TempDir())
	for round := range 8 {
		key := fmt.Appendf(nil, "create/%d", round)
		var (
			mu      sync.Mutex
			winners []int
			version uint64
		)
		together(func(w int) {
			res, err := s.Put(t.Context(), key, []byte(strconv.Itoa(w)), nil, store.Cond{Kind: store.IfAbsent})
			if err != nil {
				if !errors.Is(err, store.ErrExists) {
					t.Errorf("round %d: losing Put IfAbsent: got %v; want %v", round, err, store.ErrExists)
				}
				return
			}
			if !res.Created {
				t.Errorf("round %d: winning Put IfAbsent: Created: got %v; want %v", round, res.Created, true)
			}
			mu.Lock()
			winners = append(winners, w)
			version = res.Version
			mu.Unlock()
		})
		if len(winners) != 1 {
			t.Fatalf("round %d: winners: got %v; want exactly one", round, winners)
		}
		it, err := s.Get(t.Context(), key, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := string(it.Value), strconv.Itoa(winners[0]); got != want || it.Version != version {
			t.Errorf("round %d: stored: got %q v%d; want %q v%d", round, got, it.Version, want, version)
		}
	}
}

func TestGroupCompareAndSwap(t *testing.T) {
	const each = 4
	s := open(t, t.TempDir())
	key := []byte("counter")
	if _, err := s.Put(t.Context(), key, []byte("0"), nil, store.Cond{}); err != nil {
		t.Fatal(err)
	}
	var (
		mu       sync.Mutex
		versions = make(map[uint64]int) // version -> value written with it
		retries  atomic.Int64
	)
	together(func(int) {
		var buf []byte
		for done := 0; done < each; {
			it, err := s.Get(t.Context(), key, buf)
			if err != nil {
				t.Error(err)
				return
			}
			buf = it.Value[:0]
			n, err := strconv.Atoi(string(it.Value))
			if err != nil {
				t.Error(err)
				return
			}
			res, err := s.Put(t.Context(), key, []byte(strconv.Itoa(n+1)), nil, store.Cond{Kind: store.IfVersion, Version: it.Version})
			if errors.Is(err, store.ErrVersionMismatch) {
				retries.Add(1)
				continue
			}
			if err != nil {
				t.Errorf("Put IfVersion: got %v; want nil or %v", err, store.ErrVersionMismatch)
				return
			}
			if res.Created {
				t.Errorf("Put IfVersion: Created: got %v; want %v", res.Created, false)
			}
			done++
			mu.Lock()
			if prev, dup := versions[res.Version]; dup {
				t.Errorf("version %d: got it for values %d and %d; want each version once", res.Version, prev, n+1)
			}
			versions[res.Version] = n + 1
			mu.Unlock()
		}
	})
	const want = writers * each
	it, err := s.Get(t.Context(), key, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(it.Value); got != strconv.Itoa(want) || len(versions) != want {
		t.Errorf("counter: got %s after %d successful increments; want %d after %d", got, len(versions), want, want)
	}
	if versions[it.Version] != want {
		t.Errorf("stored version %d: got value %d written with it; want %d", it.Version, versions[it.Version], want)
	}
	t.Logf("%d increments, %d retries", want, retries.Load())
}

func TestWriteAfterClose(t *testing.T) {
	s := open(t, t.TempDir())
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	key := []byte("k")
	tests := []struct {
		name string
		do   func() error
	}{
		{"Put/Always", func() error {
			_, err := s.Put(t.Context(), key, []byte("v"), nil, store.Cond{})
			return err
		}},
		{"Put/IfAbsent", func() error {
			_, err := s.Put(t.Context(), key, []byte("v"), nil, store.Cond{Kind: store.IfAbsent})
			return err
		}},
		{"Delete/Always", func() error { return s.Delete(t.Context(), key, store.Cond{}) }},
		{"Delete/IfVersion", func() error { return s.Delete(t.Context(), key, store.Cond{Kind: store.IfVersion, Version: 1}) }},
	}
	for _, tt := range tests {
		if err := tt.do(); !errors.Is(err, store.ErrClosed) {
			t.Errorf("%s after Close: got %v; want %v", tt.name, err, store.ErrClosed)
		}
	}
}

// TestCloseWithWritersInFlight closes the store under writers that keep
// writing: Close must return, every writer must end, and a write reported
// as applied must be in the file when it is opened again, with the version
// reported, while the write that got ErrClosed must not.
func TestCloseWithWritersInFlight(t *testing.T) {
	dir := t.TempDir()
	s, err := boltstore.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	type outcome struct {
		applied map[string]uint64 // key -> version
		deleted []string          // keys put, then deleted
		refused string            // the key whose put got ErrClosed
	}
	outcomes := make([]outcome, writers)
	var total atomic.Int64
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			out := outcome{applied: make(map[string]uint64)}
			defer func() { outcomes[w] = out }()
			for i := 0; ; i++ {
				key := fmt.Sprintf("w%02d/%04d", w, i)
				var err error
				if i%5 == 4 { // now and then a delete of the put before
					prev := fmt.Sprintf("w%02d/%04d", w, i-1)
					err = s.Delete(t.Context(), []byte(prev), store.Cond{})
					if err == nil {
						delete(out.applied, prev)
						out.deleted = append(out.deleted, prev)
						continue
					}
				} else {
					var res store.Result
					res, err = s.Put(t.Context(), []byte(key), []byte(key), nil, store.Cond{Kind: store.IfAbsent})
					if err == nil {
						out.applied[key] = res.Version
						total.Add(1)
						continue
					}
					out.refused = key
				}
				if !errors.Is(err, store.ErrClosed) {
					t.Errorf("writer %d: got %v; want nil or %v", w, err, store.ErrClosed)
				}
				return
			}
		})
	}
	for total.Load() < 2*writers {
		time.Sleep(time.Millisecond)
	}
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	ended := make(chan struct{})
	go func() { wg.Wait(); close(ended) }()
	timeout := time.After(30 * time.Second)
	select {
	case err := <-closed:
		if err != nil {
			t.Errorf("Close: got %v; want nil", err)
		}
	case <-timeout:
		t.Fatal("Close did not return")
	}
	select {
	case <-ended:
	case <-timeout:
		t.Fatal("writers did not end after Close")
	}

	s = open(t, dir)
	n := 0
	for w, out := range outcomes {
		for key, version := range out.applied {
			n++
			it, err := s.Get(t.Context(), []byte(key), nil)
			if err != nil || it.Version != version {
				t.Errorf("writer %d: %s after reopen: got v%d, %v; want v%d, nil", w, key, it.Version, err, version)
			}
		}
		for _, key := range out.deleted {
			if _, err := s.Get(t.Context(), []byte(key), nil); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("writer %d: deleted %s after reopen: got %v; want %v", w, key, err, store.ErrNotFound)
			}
		}
		if out.refused != "" {
			if _, err := s.Get(t.Context(), []byte(out.refused), nil); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("writer %d: %s refused with ErrClosed, after reopen: got %v; want %v", w, out.refused, err, store.ErrNotFound)
			}
		}
	}
	t.Logf("%d writes applied before Close", n)
}
