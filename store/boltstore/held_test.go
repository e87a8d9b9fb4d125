//go:build linux && (amd64 || arm64 || loong64 || mips64 || mips64le || ppc64 || ppc64le || riscv64 || s390x)

package boltstore

import (
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"kvhttp/store"
)

// Commits on an event loop (held.go). The test plays the loop: it holds
// writes, commits them, waits for HeldSyncFD and calls HeldSynced.

// openHeld opens a store that commits held writes itself, closed when
// the test ends.
func openHeld(t *testing.T, dir string) *Store {
	t.Helper()
	s := reopen(t, dir)
	if s.HeldSyncFD() < 0 {
		t.Fatal("HeldSyncFD: got -1; want the eventfd of the loop's asynchronous fdatasync")
	}
	return s
}

// heldRound runs one round of the loop: HoldWrites, fn, CommitHeld.
func heldRound(s *Store, fn func()) {
	s.HoldWrites()
	fn()
	s.CommitHeld()
}

// awaitHeld waits for HeldSyncFD to become readable, as the loop does,
// and calls HeldSynced.
func awaitHeld(t *testing.T, s *Store) {
	t.Helper()
	fds := []unix.PollFd{{Fd: int32(s.HeldSyncFD()), Events: unix.POLLIN}}
	n, err := unix.Poll(fds, int(asyncTimeout/time.Millisecond))
	for errors.Is(err, unix.EINTR) {
		n, err = unix.Poll(fds, int(asyncTimeout/time.Millisecond))
	}
	if err != nil || n != 1 {
		t.Fatalf("poll HeldSyncFD: got %d, %v; want it readable within %v", n, err, asyncTimeout)
	}
	s.HeldSynced()
}

// committerIdle waits until the committer has let go of commitMu after
// the commits it made. Put returns when its outcome is in, a moment
// before that, and a round that ended in between would hand its writes
// to the committer rather than commit them on the loop.
func committerIdle(t *testing.T, s *Store) {
	t.Helper()
	deadline := time.Now().Add(asyncTimeout)
	for {
		if s.commitMu.TryLock() {
			queued := s.queued.Load()
			s.commitMu.Unlock()
			if queued == 0 {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("committer idle within %v: got it still committing; want it idle", asyncTimeout)
		}
		time.Sleep(time.Millisecond)
	}
}

// loopUntil does what the loop does until c's writes have their outcomes:
// it waits for HeldSyncFD, calls HeldSynced when it is readable, and runs
// a round without writes, which commits those that waited for the
// committer to let go of commitMu.
func loopUntil(t *testing.T, s *Store, c *callbacks, what string) {
	t.Helper()
	deadline := time.Now().Add(asyncTimeout)
	for int(c.called.Load()) < len(c.calls) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: outcomes within %v: got %d; want %d", what, asyncTimeout, c.called.Load(), len(c.calls))
		}
		fds := []unix.PollFd{{Fd: int32(s.HeldSyncFD()), Events: unix.POLLIN}}
		if n, err := unix.Poll(fds, 10); err == nil && n == 1 {
			s.HeldSynced()
		}
		heldRound(s, func() {})
	}
}

// inFlight reports whether a commit CommitHeld started waits for its
// sync.
func inFlight(s *Store) bool {
	s.held.mu.Lock()
	defer s.held.mu.Unlock()
	return s.held.batch != nil
}

// putHeld makes a PutAsync call for each of keys, with the value "v-"
// and the key, their outcomes going to c from index first on.
func putHeld(t *testing.T, s *Store, c *callbacks, first int, keys ...string) {
	t.Helper()
	for i, k := range keys {
		if err := s.PutAsync([]byte(k), []byte("v-"+k), nil, store.Cond{}, c.then(first+i)); err != nil {
			t.Fatalf("PutAsync(%q): got %v; want nil", k, err)
		}
	}
}

// TestHeldCommit: a round's writes are committed as one batch on the
// loop, their outcomes come only from HeldSynced, on the loop's
// goroutine, each its own (a failed condition fails only its write), and
// Get sees them after.
func TestHeldCommit(t *testing.T) {
	s := openHeld(t, t.TempDir())
	mustPutValue(t, s, "taken", []byte("old"))
	committerIdle(t, s)
	commits := s.commits.Load()
	c := newCallbacks(3)
	heldRound(s, func() {
		putHeld(t, s, c, 0, "a", "b")
		if err := s.PutAsync([]byte("taken"), []byte("new"), nil, store.Cond{Kind: store.IfAbsent}, c.then(2)); err != nil {
			t.Fatal(err)
		}
	})
	if got := c.called.Load(); got != 0 {
		t.Fatalf("outcomes before HeldSynced: got %d; want 0", got)
	}
	awaitHeld(t, s)
	if got := c.called.Load(); got != 3 {
		t.Fatalf("outcomes after HeldSynced: got %d; want 3, on this goroutine", got)
	}
	c.checkOnce(t, "held writes")
	for i, k := range []string{"a", "b"} {
		if o := c.got[i]; o.err != nil || !o.res.Created {
			t.Errorf("put %q: got %+v, %v; want created", k, o.res, o.err)
		}
		if it, err := s.Get(t.Context(), []byte(k), nil); err != nil || string(it.Value) != "v-"+k {
			t.Errorf("Get(%q): got %q, %v; want %q", k, it.Value, err, "v-"+k)
		}
	}
	if err := c.got[2].err; !errors.Is(err, store.ErrExists) {
		t.Errorf("create-only put of a taken key: got %v; want %v", err, store.ErrExists)
	}
	if got := s.commits.Load() - commits; got != 1 {
		t.Errorf("commits: got %d; want 1", got)
	}
	if got := s.held.aio.seq; got != 1 {
		t.Errorf("syncs started on the loop: got %d; want 1", got)
	}
}

// TestHeldWhileSyncing: writes held while a sync is in flight wait for
// the CommitHeld after its HeldSynced, and form the next batch; their
// versions follow the first batch's.
func TestHeldWhileSyncing(t *testing.T) {
	s := openHeld(t, t.TempDir())
	c := newCallbacks(3)
	heldRound(s, func() { putHeld(t, s, c, 0, "a") })
	heldRound(s, func() { putHeld(t, s, c, 1, "b", "c") })
	awaitHeld(t, s)
	if got := c.called.Load(); got != 1 {
		t.Fatalf("outcomes after the first sync: got %d; want 1", got)
	}
	heldRound(s, func() {}) // commits what waited
	awaitHeld(t, s)
	c.checkOnce(t, "two batches")
	for i, o := range c.got {
		if o.err != nil || o.res.Version != uint64(i+1) {
			t.Errorf("write %d: got version %d, %v; want %d", i, o.res.Version, o.err, i+1)
		}
	}
	if got := s.held.aio.seq; got != 2 {
		t.Errorf("syncs started on the loop: got %d; want 2", got)
	}
}

// TestHeldSyncFails: when the frame's sync fails, every write of the
// batch fails with its error, none is visible, the frame is cut off the
// log (a reopened store has none of them), and the next batch commits.
func TestHeldSyncFails(t *testing.T) {
	dir := t.TempDir()
	s := openHeld(t, dir)
	start := s.held.startSync
	errInjected := errors.New("injected sync failure")
	s.held.startSync = func(*os.File) (bool, error) { return false, errInjected }
	c := newCallbacks(2)
	heldRound(s, func() { putHeld(t, s, c, 0, "lost1", "lost2") })
	c.wait(t, "failed batch")
	for i, o := range c.got {
		if !errors.Is(o.err, errInjected) {
			t.Errorf("write %d: got %v; want %v", i, o.err, errInjected)
		}
	}
	s.held.startSync = start
	ok := newCallbacks(1)
	heldRound(s, func() { putHeld(t, s, ok, 0, "kept") })
	awaitHeld(t, s)
	if o := ok.got[0]; o.err != nil || o.res.Version != 1 {
		t.Errorf("write after the failure: got version %d, %v; want 1 (the failed batch's versions undone)", o.res.Version, o.err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = reopen(t, dir)
	for k, want := range map[string]error{"lost1": store.ErrNotFound, "lost2": store.ErrNotFound, "kept": nil} {
		if _, err := s.Get(t.Context(), []byte(k), nil); !errors.Is(err, want) {
			t.Errorf("after reopening, Get(%q): got %v; want %v", k, err, want)
		}
	}
}

// TestHeldClose: Close ends a commit whose sync is in flight (the loop
// may never call HeldSynced again), its writes' outcomes come from Close,
// and they are in the store when it is opened again. Writes held after
// that go through the committer.
func TestHeldClose(t *testing.T) {
	dir := t.TempDir()
	s := openHeld(t, dir)
	c := newCallbacks(2)
	heldRound(s, func() { putHeld(t, s, c, 0, "a", "b") })
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if got := c.called.Load(); got != 2 {
		t.Fatalf("outcomes when Close returned: got %d; want 2", got)
	}
	c.checkOnce(t, "writes in flight at Close")
	for i, o := range c.got {
		if o.err != nil {
			t.Errorf("write %d: got %v; want nil", i, o.err)
		}
	}
	s.HeldSynced() // a late event: nothing to do
	s = reopen(t, dir)
	for _, k := range []string{"a", "b"} {
		if it, err := s.Get(t.Context(), []byte(k), nil); err != nil || string(it.Value) != "v-"+k {
			t.Errorf("after reopening, Get(%q): got %q, %v; want %q", k, it.Value, err, "v-"+k)
		}
	}
}

// TestHeldHandedToCommitter: CommitHeld leaves the writes to the
// committer when it cannot commit at once and waiting for the committer
// to let go of commitMu would not help: writes are queued before the
// held ones (which keep their order), or there is no asynchronous
// fdatasync. Every write gets its outcome.
func TestHeldHandedToCommitter(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, s *idleStore) (undo func())
	}{
		{"queued first", func(t *testing.T, s *idleStore) func() {
			c := newCallbacks(1)
			putHeld(t, s.Store, c, 0, "first") // not held: queued, the committer idle
			return func() {}
		}},
		{"no aio", func(t *testing.T, s *idleStore) func() {
			if err := s.held.aio.Close(); err != nil {
				t.Fatal(err)
			}
			s.held.aio = nil
			return func() {}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openIdle(t, t.TempDir())
			undo := tt.setup(t, s)
			c := newCallbacks(2)
			heldRound(s.Store, func() { putHeld(t, s.Store, c, 0, "x", "y") })
			if inFlight(s.Store) {
				t.Fatal("CommitHeld: got a commit of its own; want the writes handed to the committer")
			}
			undo()
			s.run()
			c.wait(t, tt.name)
			c.checkOnce(t, tt.name)
			for i, o := range c.got {
				if o.err != nil || o.res.Version == 0 {
					t.Errorf("write %d: got %+v, %v; want committed", i, o.res, o.err)
				}
			}
			if tt.name == "queued first" && c.got[0].res.Version != 2 {
				t.Errorf("held write after a queued one: got version %d; want 2", c.got[0].res.Version)
			}
		})
	}
}

// TestHeldWaitsForCommitter: held writes that find the committer holding
// commitMu stay held, not queued behind it; when it lets go, it signals
// HeldSyncFD, and the round the loop then runs commits them.
func TestHeldWaitsForCommitter(t *testing.T) {
	s := openIdle(t, t.TempDir())
	s.run()
	committerIdle(t, s.Store)
	s.commitMu.Lock() // as the committer does to commit
	c := newCallbacks(2)
	heldRound(s.Store, func() { putHeld(t, s.Store, c, 0, "x", "y") })
	if inFlight(s.Store) {
		t.Fatal("CommitHeld with commitMu taken: got a commit of its own; want none")
	}
	if got := s.queued.Load(); got != 0 {
		t.Errorf("writes queued for the committer: got %d; want 0, the writes held for the loop", got)
	}
	if !s.held.waiting.Load() {
		t.Error("held.waiting: got false; want true")
	}
	fds := []unix.PollFd{{Fd: int32(s.HeldSyncFD()), Events: unix.POLLIN}}
	if n, _ := unix.Poll(fds, 0); n != 0 {
		t.Fatalf("HeldSyncFD before the committer let go: got readable; want not")
	}
	s.unlockCommit()
	awaitHeld(t, s.Store) // the signal: no sync ended
	if got := c.called.Load(); got != 0 {
		t.Fatalf("outcomes after the committer's signal: got %d; want 0", got)
	}
	heldRound(s.Store, func() {})
	if !inFlight(s.Store) {
		t.Fatal("the round after the signal: got no commit of its own; want one")
	}
	awaitHeld(t, s.Store)
	c.checkOnce(t, "writes that waited")
	for i, o := range c.got {
		if o.err != nil || o.res.Version != uint64(i+1) {
			t.Errorf("write %d: got version %d, %v; want %d", i, o.res.Version, o.err, i+1)
		}
	}
	if s.held.waiting.Load() {
		t.Error("held.waiting after the commit: got true; want false")
	}
}

// TestFinishHeldHandsOver: writes that wait for the loop's next round
// when the loop stops go to the committer.
func TestFinishHeldHandsOver(t *testing.T) {
	s := openIdle(t, t.TempDir())
	s.commitMu.Lock()
	c := newCallbacks(1)
	heldRound(s.Store, func() { putHeld(t, s.Store, c, 0, "x") })
	s.commitMu.Unlock() // the test's, not the committer's: no signal
	s.FinishHeld()
	if got := s.queued.Load(); got != 1 {
		t.Errorf("writes queued for the committer after FinishHeld: got %d; want 1", got)
	}
	s.run()
	c.wait(t, "write handed over")
	if o := c.got[0]; o.err != nil || o.res.Version != 1 {
		t.Errorf("write: got version %d, %v; want 1", o.res.Version, o.err)
	}
}

// TestHeldCheckpoint: commits made on the loop reach bbolt: the
// committer, nudged when a checkpoint is due, makes it, and the overlay
// moves on to the next log segment. The rounds go on until two
// checkpoints have begun, however fast the checkpointer keeps up (with
// one processor, slower than the rounds): each is due only once the
// log's segment holds 4 KiB of new writes.
func TestHeldCheckpoint(t *testing.T) {
	s := openHeld(t, t.TempDir())
	s.commitMu.Lock()
	s.ckptLogBytes = 4 << 10 // a checkpoint every few batches
	gen0 := s.ov.active.gen
	s.commitMu.Unlock()
	deadline := time.Now().Add(asyncTimeout)
	rounds := 0
	for ; ; rounds++ {
		s.commitMu.Lock()
		gen := s.ov.active.gen
		s.commitMu.Unlock()
		if gen >= gen0+2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("overlay generation after %d rounds: got %d; want checkpoints to have moved it on (>= %d)", rounds, gen, gen0+2)
		}
		c := newCallbacks(4)
		heldRound(s, func() {
			for i := range 4 {
				putHeld(t, s, c, i, fmt.Sprintf("k%03d-%d-%0100d", rounds, i, 0))
			}
		})
		loopUntil(t, s, c, fmt.Sprintf("round %d", rounds))
	}
	if got := s.held.aio.seq; got < uint64(rounds/2) {
		t.Errorf("syncs started on the loop: got %d; want most of the %d rounds'", got, rounds)
	}
}

// TestFinishHeld: FinishHeld ends a commit in flight (a loop that stops
// calls it), the committer commits again after it, and a later round
// commits on the loop again.
func TestFinishHeld(t *testing.T) {
	s := openHeld(t, t.TempDir())
	c := newCallbacks(1)
	heldRound(s, func() { putHeld(t, s, c, 0, "a") })
	s.FinishHeld()
	if got := c.called.Load(); got != 1 {
		t.Fatalf("outcomes when FinishHeld returned: got %d; want 1", got)
	}
	if o := c.got[0]; o.err != nil || o.res.Version != 1 {
		t.Errorf("write: got version %d, %v; want 1", o.res.Version, o.err)
	}
	mustPutValue(t, s, "b", []byte("v")) // through the committer
	committerIdle(t, s)
	next := newCallbacks(1)
	heldRound(s, func() { putHeld(t, s, next, 0, "c") })
	if !inFlight(s) {
		t.Fatal("CommitHeld after FinishHeld: got no commit of its own; want one")
	}
	awaitHeld(t, s)
	if o := next.got[0]; o.err != nil || o.res.Version != 3 {
		t.Errorf("write after FinishHeld: got version %d, %v; want 3", o.res.Version, o.err)
	}
}
