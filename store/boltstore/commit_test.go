package boltstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"kvhttp/store"
)

// idleStore is a Store whose committer starts only when the test says, so
// that the test can queue operations, or fill the queue, first.
type idleStore struct {
	*Store
	once sync.Once
}

// run starts the committer if it is not running yet.
func (s *idleStore) run() { s.once.Do(s.start) }

func openIdle(t *testing.T, dir string) *idleStore {
	t.Helper()
	st, err := open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := &idleStore{Store: st}
	t.Cleanup(func() {
		s.run()
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	return s
}

// reopen opens the store in dir, closed when the test ends.
func reopen(t *testing.T, dir string) *Store {
	t.Helper()
	s, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// waitQueued waits until n operations wait in s's queue.
func waitQueued(t *testing.T, s *Store, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for len(s.queue) != n {
		if time.Now().After(deadline) {
			t.Fatalf("queued: got %d; want %d", len(s.queue), n)
		}
		time.Sleep(100 * time.Microsecond)
	}
}

// step is one write of a test batch and its expected outcome.
type step struct {
	name    string
	del     bool
	key     string
	value   string
	cond    store.Cond
	want    error // nil for applied
	created bool
}

// queueSteps starts one writer per step, in order, waiting for each to be
// queued before starting the next, and returns a function that waits for
// their outcomes.
func queueSteps(t *testing.T, s *Store, steps []step) func() ([]store.Result, []error) {
	t.Helper()
	results := make([]store.Result, len(steps))
	errs := make([]error, len(steps))
	var wg sync.WaitGroup
	before := len(s.queue)
	for i, st := range steps {
		wg.Go(func() {
			if st.del {
				errs[i] = s.Delete(context.Background(), []byte(st.key), st.cond)
				return
			}
			results[i], errs[i] = s.Put(context.Background(), []byte(st.key), []byte(st.value), nil, st.cond)
		})
		waitQueued(t, s, before+i+1)
	}
	return func() ([]store.Result, []error) {
		wg.Wait()
		return results, errs
	}
}

// TestBatchMixed queues writes that depend on each other before the
// committer runs, so that they are applied in one transaction: each must
// see the effects of those before it, and a failed condition must fail
// only its own write.
func TestBatchMixed(t *testing.T) {
	dir := t.TempDir()
	ctx := t.Context()
	seed, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := seed.PutAll(ctx, []store.Item{{Key: []byte("a"), Value: []byte("a0")}, {Key: []byte("b"), Value: []byte("b0")}}); err != nil {
		t.Fatal(err)
	}
	if err := seed.Close(); err != nil {
		t.Fatal(err)
	}
	s := openIdle(t, dir)
	a0, err := s.Get(ctx, []byte("a"), nil)
	if err != nil {
		t.Fatal(err)
	}
	ifVersion := store.Cond{Kind: store.IfVersion, Version: a0.Version}
	steps := []step{
		{name: "cas a", key: "a", value: "a1", cond: ifVersion},
		{name: "cas a again", key: "a", value: "a2", cond: ifVersion, want: store.ErrVersionMismatch},
		{name: "create c", key: "c", value: "c1", cond: store.Cond{Kind: store.IfAbsent}, created: true},
		{name: "create c again", key: "c", value: "c2", cond: store.Cond{Kind: store.IfAbsent}, want: store.ErrExists},
		{name: "delete b", del: true, key: "b", cond: store.Cond{Kind: store.IfPresent}},
		{name: "delete b again", del: true, key: "b", want: store.ErrNotFound},
		{name: "update b", key: "b", value: "b1", cond: store.Cond{Kind: store.IfPresent}, want: store.ErrNotFound},
		{name: "create b", key: "b", value: "b2", cond: store.Cond{Kind: store.IfAbsent}, created: true},
		{name: "cas absent d", key: "d", value: "d1", cond: store.Cond{Kind: store.IfVersion, Version: 1}, want: store.ErrNotFound},
		{name: "overwrite a", key: "a", value: "a3"},
		{name: "delete a with its old version", del: true, key: "a", cond: ifVersion, want: store.ErrVersionMismatch},
	}
	wait := queueSteps(t, s.Store, steps)
	s.run()
	results, errs := wait()

	var last uint64
	for i, st := range steps {
		if !errors.Is(errs[i], st.want) {
			t.Errorf("%s: got %v; want %v", st.name, errs[i], st.want)
		}
		if st.want != nil || st.del {
			continue
		}
		if res := results[i]; res.Version <= last || res.Created != st.created {
			t.Errorf("%s: got v%d created %v; want version above %d, created %v", st.name, res.Version, res.Created, last, st.created)
		}
		last = results[i].Version
	}
	if got := s.commits.Load(); got != 1 {
		t.Errorf("commits: got %v; want %v", got, 1)
	}
	for _, w := range []struct {
		key, value string
		step       int // the step that wrote it
	}{
		{"a", "a3", 9},
		{"b", "b2", 7},
		{"c", "c1", 2},
	} {
		it, err := s.Get(ctx, []byte(w.key), nil)
		if err != nil || string(it.Value) != w.value || it.Version != results[w.step].Version {
			t.Errorf("Get(%q): got %q v%d, %v; want %q v%d, nil", w.key, it.Value, it.Version, err, w.value, results[w.step].Version)
		}
	}
	if _, err := s.Get(ctx, []byte("d"), nil); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Get(%q): got %v; want %v", "d", err, store.ErrNotFound)
	}
}

var errInjected = errors.New("injected commit failure")

// TestCommitFails makes one commit's log sync fail, with an error or a
// panic: every write in it, including one whose condition failed, must
// report the failure and none may be applied, now or after a restart;
// the next commit works again.
func TestCommitFails(t *testing.T) {
	tests := []struct {
		name string
		fail func() error
	}{
		{"error", func() error { return errInjected }},
		{"panic", func() error { panic(errInjected) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			s := openIdle(t, dir)
			var calls atomic.Int32
			s.logSync = func(f *os.File) error {
				if calls.Add(1) == 1 {
					return tt.fail() // as when fdatasync reports an I/O error
				}
				return fdatasync(f)
			}
			steps := []step{
				{name: "put x", key: "x", value: "x1"},
				{name: "create y", key: "y", value: "y1", cond: store.Cond{Kind: store.IfAbsent}},
				{name: "delete absent z", del: true, key: "z"},
			}
			wait := queueSteps(t, s.Store, steps)
			s.run()
			results, errs := wait()
			for i, st := range steps {
				if !errors.Is(errs[i], errInjected) || results[i] != (store.Result{}) {
					t.Errorf("%s: got %+v, %v; want %+v, %v", st.name, results[i], errs[i], store.Result{}, errInjected)
				}
			}
			for _, key := range []string{"x", "y"} {
				if _, err := s.Get(t.Context(), []byte(key), nil); !errors.Is(err, store.ErrNotFound) {
					t.Errorf("Get(%q) after failed commit: got %v; want %v", key, err, store.ErrNotFound)
				}
			}
			if _, err := s.Put(t.Context(), []byte("x"), []byte("x2"), nil, store.Cond{Kind: store.IfAbsent}); err != nil {
				t.Errorf("Put after failed commit: got %v; want nil", err)
			}
			// The failed frame must not come back from the log.
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s2 := reopen(t, dir)
			if _, err := s2.Get(t.Context(), []byte("y"), nil); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("Get(%q) after reopen: got %v; want %v", "y", err, store.ErrNotFound)
			}
			if it, err := s2.Get(t.Context(), []byte("x"), nil); err != nil || string(it.Value) != "x2" {
				t.Errorf("Get(%q) after reopen: got %q, %v; want %q, nil", "x", it.Value, err, "x2")
			}
		})
	}
}

// TestBrokenLog: a log sync fails and so does cutting the frame back off
// the log. The writer is told; the store takes no more writes; after
// Close the frame must not come back at Open, whether or not acknowledged
// writes share its segment.
func TestBrokenLog(t *testing.T) {
	for _, before := range []string{"", "a"} {
		t.Run("acknowledged before: "+before, func(t *testing.T) {
			dir := t.TempDir()
			s, err := Open(dir, nil)
			if err != nil {
				t.Fatal(err)
			}
			if before != "" {
				if _, err := s.Put(t.Context(), []byte(before), []byte("kept"), nil, store.Cond{}); err != nil {
					t.Fatal(err)
				}
			}
			var calls atomic.Int32
			s.logSync = func(f *os.File) error {
				if calls.Add(1) == 1 {
					f.Close() // so the cut that follows fails too
					return errInjected
				}
				return fdatasync(f)
			}
			if _, err := s.Put(t.Context(), []byte("x"), []byte("failed"), nil, store.Cond{}); !errors.Is(err, errInjected) {
				t.Fatalf("Put: got %v; want %v", err, errInjected)
			}
			if _, err := s.Put(t.Context(), []byte("y"), []byte("v"), nil, store.Cond{}); !errors.Is(err, errLogBroken) {
				t.Errorf("Put on a broken log: got %v; want %v", err, errLogBroken)
			}
			if err := s.Close(); err != nil {
				t.Errorf("Close: got %v; want nil", err)
			}
			s2 := reopen(t, dir)
			if it, err := s2.Get(t.Context(), []byte("x"), nil); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("Get(%q) after reopen: got %q, %v; want %v", "x", it.Value, err, store.ErrNotFound)
			}
			if before != "" {
				if it, err := s2.Get(t.Context(), []byte(before), nil); err != nil || string(it.Value) != "kept" {
					t.Errorf("Get(%q) after reopen: got %q, %v; want %q", before, it.Value, err, "kept")
				}
			}
		})
	}
}

// fillQueue fills the queue of a store whose committer is not running
// with puts of keys fill/N and returns their ops.
func fillQueue(s *Store) []*writeOp {
	ops := make([]*writeOp, cap(s.queue))
	for i := range ops {
		op := &writeOp{done: make(chan struct{}, 1)}
		op.key = fmt.Appendf(nil, "fill/%04d", i)
		op.rec = appendRecord(nil, 0, nil, op.key)
		ops[i] = op
		s.queue <- op
	}
	return ops
}

// waitOps waits for the outcome of ops that fillQueue queued and checks
// that each was applied.
func waitOps(t *testing.T, ops []*writeOp) {
	t.Helper()
	for _, op := range ops {
		<-op.done
		if op.err != nil {
			t.Fatalf("queued put of %s: got %v; want nil", op.key, op.err)
		}
	}
}

// TestQueueFull checks back-pressure: with the queue full, a writer waits,
// and gives up with its context's error when the context ends, having
// applied nothing.
func TestQueueFull(t *testing.T) {
	s := openIdle(t, t.TempDir())
	ops := fillQueue(s.Store)
	tests := []struct {
		name string
		ctx  func() (context.Context, context.CancelFunc)
		want error
	}{
		{"deadline", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(t.Context(), 20*time.Millisecond)
		}, context.DeadlineExceeded},
		{"cancel", func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(t.Context())
			time.AfterFunc(20*time.Millisecond, cancel)
			return ctx, cancel
		}, context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := tt.ctx()
			defer cancel()
			_, err := s.Put(ctx, []byte(tt.name), []byte("v"), nil, store.Cond{})
			if !errors.Is(err, tt.want) {
				t.Errorf("Put on a full queue: got %v; want %v", err, tt.want)
			}
			err = s.Delete(ctx, []byte("fill/0000"), store.Cond{})
			if !errors.Is(err, tt.want) {
				t.Errorf("Delete on a full queue: got %v; want %v", err, tt.want)
			}
		})
	}

	// A writer without a deadline waits for room, then is applied.
	done := make(chan error, 1)
	go func() {
		_, err := s.Put(context.Background(), []byte("patient"), []byte("v"), nil, store.Cond{})
		done <- err
	}()
	s.run()
	waitOps(t, ops)
	if err := <-done; err != nil {
		t.Errorf("Put waiting for room: got %v; want nil", err)
	}
	for _, key := range []string{"deadline", "cancel"} {
		if _, err := s.Get(t.Context(), []byte(key), nil); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Get(%q) of a put that gave up: got %v; want %v", key, err, store.ErrNotFound)
		}
	}
	if _, err := s.Get(t.Context(), []byte("fill/0000"), nil); err != nil {
		t.Errorf("Get(%q) of a delete that gave up: got %v; want nil", "fill/0000", err)
	}
	if got := s.commits.Load(); got < uint64(len(ops)/maxBatchOps) || got > uint64(len(ops)/maxBatchOps+2) {
		t.Errorf("commits for %d queued writes: got %d; want about %d", len(ops)+1, got, len(ops)/maxBatchOps)
	}
}

// TestCloseQueueFull closes a store whose queue is full and whose writers
// wait for room: Close must return once everything queued is committed,
// and each waiting writer either got in (and is on disk) or got ErrClosed.
func TestCloseQueueFull(t *testing.T) {
	dir := t.TempDir()
	s := openIdle(t, dir)
	ops := fillQueue(s.Store)
	const waiting = 8
	errs := make([]error, waiting)
	var wg sync.WaitGroup
	for i := range waiting {
		wg.Go(func() {
			_, errs[i] = s.Put(context.Background(), fmt.Appendf(nil, "waiting/%d", i), []byte("v"), nil, store.Cond{})
		})
	}
	time.Sleep(10 * time.Millisecond) // let the writers reach the full queue
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	time.Sleep(10 * time.Millisecond) // let Close begin
	s.run()
	if err := <-closed; err != nil {
		t.Fatalf("Close: got %v; want nil", err)
	}
	wg.Wait()
	waitOps(t, ops)

	s2, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	for i, err := range errs {
		key := fmt.Appendf(nil, "waiting/%d", i)
		_, gerr := s2.Get(t.Context(), key, nil)
		switch {
		case err == nil && gerr != nil:
			t.Errorf("%s applied before Close, after reopen: got %v; want nil", key, gerr)
		case errors.Is(err, store.ErrClosed) && !errors.Is(gerr, store.ErrNotFound):
			t.Errorf("%s refused by Close, after reopen: got %v; want %v", key, gerr, store.ErrNotFound)
		case err != nil && !errors.Is(err, store.ErrClosed):
			t.Errorf("%s: got %v; want nil or %v", key, err, store.ErrClosed)
		}
	}
	if _, err := s2.Get(t.Context(), ops[len(ops)-1].key, nil); err != nil {
		t.Errorf("last queued put after reopen: got %v; want nil", err)
	}
}

// BenchmarkPutParallel measures durable writes from about 64 concurrent
// writers, which share commits.
func BenchmarkPutParallel(b *testing.B) {
	s, err := Open(b.TempDir(), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	value := bytes.Repeat([]byte{'v'}, 100)
	var next atomic.Int64
	b.SetParallelism(max(1, 64/runtime.GOMAXPROCS(0)))
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		key := make([]byte, 0, 16)
		for pb.Next() {
			key = fmt.Appendf(key[:0], "key/%06d", next.Add(1)%10000)
			if _, err := s.Put(context.Background(), key, value, nil, store.Cond{}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "writes/s")
	if c := s.commits.Load(); c > 0 {
		b.ReportMetric(float64(b.N)/float64(c), "writes/commit")
	}
}
