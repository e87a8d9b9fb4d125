package boltstore

import (
	"os"
	"sync"
	"sync/atomic"
)

// Commits on an event loop.
//
// A server that answers durable writes from one event loop (kvhttp's, on
// Linux) makes its writes in rounds: it reads what its clients sent,
// hands each write to PutAsync or DeleteAsync, and waits for events
// again. Through the committer, each round's writes wake the committer's
// goroutine, and each commit's completions wake the loop: two threads
// handing work back and forth on every sync, which on a small machine
// costs a tenth of the throughput (docs/PERFORMANCE.md). So the loop may
// commit its round's writes itself, without waiting for their sync:
//
//	HoldWrites()   // round begins: PutAsync and DeleteAsync hold writes
//	...            // the round's PutAsync and DeleteAsync calls
//	CommitHeld()   // round ends: apply, log and start the sync of what is held
//	...            // HeldSyncFD becomes readable when the sync has ended
//	HeldSynced()   // the held writes' completions run, on the loop
//	...
//	FinishHeld()   // the loop stops: wait for a sync in flight, and end it
//
// CommitHeld applies the held writes in order, writes their frame to the
// log and starts its fdatasync through the kernel's asynchronous I/O
// (logsync_linux64.go), whose completion signals HeldSyncFD; HeldSynced
// ends the commit as the committer would have (the frame is the log's,
// the writes become visible, each completion gets its outcome), or, if
// the sync failed, cuts the frame off and fails every write of the batch.
// The writes held while a sync is in flight wait for the next CommitHeld:
// they form the next batch, as writes waiting for the committer do.
//
// A commit CommitHeld starts holds commitMu until HeldSynced (or Close)
// ends it, so commits stay one at a time and the committer waits for it.
// CommitHeld never waits. When the committer holds commitMu (it is
// committing, or checking for a checkpoint), the held writes stay held,
// and the committer, letting go, signals HeldSyncFD so that the loop's
// next round commits them. Handing them over instead would keep the loop
// off: the next rounds' writes would find writes queued before theirs,
// which must not be overtaken, and follow them to the committer, round
// after round, while the committer is busy with them. Whenever else it
// cannot commit at once (writes from elsewhere are queued before the
// held ones; the overlay is full and a checkpoint must catch up; the
// kernel has no asynchronous fdatasync) it hands the held writes to the
// committer. Checkpoints stay the committer's: a segment's end frame is
// synced synchronously, which a loop must not wait for, so CommitHeld
// only nudges the committer when one is due.

// heldCommits is the state of the commits CommitHeld starts.
type heldCommits struct {
	// mu orders the loop's calls (CommitHeld, HeldSynced) with Close,
	// which ends a commit in flight when the loop will not.
	mu sync.Mutex
	// aio syncs the held commits' frames: the committer's own may be in
	// flight. nil where the kernel offers no asynchronous fdatasync.
	aio *aioSyncer
	// startSync starts the sync of a frame: aio.start, which tests
	// replace to make it fail.
	startSync func(*os.File) (async bool, err error)
	// batch is the commit whose sync is in flight, nil if none; seq is
	// the version counter before it, to undo its versions if it fails.
	batch []*writeOp
	seq   uint64
	spare []*writeOp // batch's array, reused
	// closed is set by Close: CommitHeld hands everything to the
	// committer, which commits it before Close returns.
	closed bool
	// waiting is set while held writes wait for commitMu, which the
	// committer holds: unlockCommit then signals the loop, and the
	// committer leaves them alone. CommitHeld sets it before trying
	// the lock, so a committer that lets go after a failed try sees it.
	waiting atomic.Bool
}

// HoldWrites begins a round of an event loop: until the CommitHeld that
// ends it, PutAsync and DeleteAsync hold the writes they take for
// CommitHeld (any goroutine's), rather than hand them to the committer.
// Each HoldWrites must be followed by one CommitHeld. See HeldSyncFD.
func (s *Store) HoldWrites() { s.holds.Add(1) }

// CommitHeld ends a round that HoldWrites began, and commits the held
// writes on the calling goroutine without waiting for their sync: it
// applies them, appends their frame to the log and starts the log's
// sync; HeldSynced hands them their outcomes once HeldSyncFD says the
// sync has ended. While a sync it started is in flight, the writes held
// meanwhile wait for the CommitHeld after that HeldSynced. While the
// committer holds the commit lock, they wait for the round after its
// signal on HeldSyncFD. When it cannot commit without waiting otherwise
// (see above), it hands the held writes to the committer. It never
// blocks.
func (s *Store) CommitHeld() {
	s.holds.Add(-1)
	h := &s.held
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.batch != nil {
		return // the writes wait for the sync in flight
	}
	if h.aio == nil || h.closed {
		s.refill() // the committer's, then
		return
	}
	if !s.overWaits() {
		h.waiting.Store(false)
		return // nothing held
	}
	h.waiting.Store(true)
	if !s.commitMu.TryLock() {
		return // the committer's unlockCommit starts the round that commits them
	}
	h.waiting.Store(false)
	if s.overlayFull() {
		// A checkpoint must catch up: the committer waits for it
		// (back-pressure), and then commits these.
		s.commitMu.Unlock()
		s.nudgeCommitter()
		s.refill()
		return
	}
	batch := s.takeHeld(h.spare[:0])
	if len(batch) == 0 {
		s.commitMu.Unlock()
		s.refill() // queued writes came first, if any were held
		return
	}
	h.seq = s.seq
	logged, err := s.stage(batch)
	if err == nil && logged {
		if err = s.seg.write(s.frame); err == nil {
			var async bool
			if async, err = h.startSync(s.seg.f); async {
				h.batch = batch // HeldSynced, or Close, ends it
				return
			}
		}
		err = s.settleFrame(err)
	}
	s.endHeld(batch, err)
}

// HeldSyncFD returns a descriptor that becomes readable when the sync of
// a commit CommitHeld started has ended, or when the committer lets go of
// the commit lock that held writes wait for: an event loop watches it,
// calls HeldSynced when it is readable, and then runs a round. It returns
// -1 when the store cannot commit on the loop (no asynchronous
// fdatasync): CommitHeld then hands every write to the committer, and
// HeldSynced does nothing.
func (s *Store) HeldSyncFD() int {
	if s.held.aio == nil {
		return -1
	}
	return s.held.aio.fd()
}

// HeldSynced ends the commit CommitHeld started if its sync has ended:
// the held writes' completions run, on the calling goroutine, with their
// outcomes. It resets HeldSyncFD's readiness, and never blocks. The
// writes held since wait for the next CommitHeld.
func (s *Store) HeldSynced() {
	h := &s.held
	if h.aio == nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return // the eventfd is closed, or about to be
	}
	done, err := h.aio.poll()
	if h.batch == nil || !done {
		return
	}
	batch := h.batch
	h.batch = nil
	s.endHeld(batch, s.settleFrame(err))
}

// FinishHeld ends the commit CommitHeld started, if its sync is in
// flight, waiting for the sync: the held writes' completions run on the
// calling goroutine. An event loop that stops calls it, so that its last
// commit (and every commit after it, the committer's too) does not wait
// for a HeldSynced that will never come. HoldWrites and CommitHeld may
// be used again after it.
func (s *Store) FinishHeld() {
	s.held.mu.Lock()
	defer s.held.mu.Unlock()
	s.finishHeld()
	// Writes waiting for a round that will not come: the committer's.
	s.held.waiting.Store(false)
	s.refill()
}

// unlockCommit lets go of commitMu, as the committer does, and wakes the
// loop if held writes wait for it (see CommitHeld).
func (s *Store) unlockCommit() {
	s.commitMu.Unlock()
	if s.held.waiting.Load() {
		s.held.aio.signal()
	}
}

// overWaits reports whether writes wait in s.over.
func (s *Store) overWaits() bool {
	s.overMu.Lock()
	defer s.overMu.Unlock()
	return len(s.over) > 0
}

// stopHeld ends a held commit in flight, as FinishHeld does, and commits
// nothing on the loop from now on. Close calls it.
func (s *Store) stopHeld() {
	s.held.mu.Lock()
	defer s.held.mu.Unlock()
	s.held.closed = true
	s.finishHeld()
}

// finishHeld is FinishHeld under held.mu.
func (s *Store) finishHeld() {
	h := &s.held
	if h.batch == nil {
		return
	}
	batch := h.batch
	h.batch = nil
	s.endHeld(batch, s.settleFrame(h.aio.await()))
}

// takeHeld appends to batch, in order, the writes waiting in s.over, up
// to a batch's bounds, unless the store is closed (the committer commits
// them) or operations queued before them are still to be committed
// (they go after those, through the committer).
func (s *Store) takeHeld(batch []*writeOp) []*writeOp {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed.Load() {
		return batch
	}
	s.overMu.Lock()
	defer s.overMu.Unlock()
	if s.queued.Load() != 0 {
		return batch
	}
	n, size := 0, 0
	for n < len(s.over) && n < maxBatchOps && size < maxBatchBytes {
		size += s.over[n].size()
		n++
	}
	batch = append(batch, s.over[:n]...)
	rest := copy(s.over, s.over[n:])
	clear(s.over[rest:])
	s.over = s.over[:rest]
	return batch
}

// settleFrame ends the log append of the frame in s.frame, whose write
// and sync ended with err, as segment.append does.
func (s *Store) settleFrame(err error) error {
	if err = s.seg.settle(len(s.frame), err); err != nil {
		return s.logError(err)
	}
	return nil
}

// endHeld ends a held commit whose log append ended with err: as the
// committer's commit ends, then it lets the committer commit again, and
// nudges it if a checkpoint is due.
func (s *Store) endHeld(batch []*writeOp, err error) {
	if err != nil {
		s.unstage(s.held.seq)
	} else {
		s.keepFrame()
	}
	s.complete(batch, err)
	clear(batch) // keep no op alive: its writer may reuse it
	s.held.spare = batch[:0]
	if s.checkpointWaits() {
		s.nudgeCommitter()
	}
	s.commitMu.Unlock()
}

// checkpointWaits reports whether the committer has checkpoint work: a
// checkpoint has ended and its outcome waits, or none runs and one is
// due. The caller holds commitMu.
func (s *Store) checkpointWaits() bool {
	if s.ckptRunning {
		return len(s.ckptDone) > 0
	}
	return !s.ov.isFrozen() && s.ov.active.len() > 0 && s.checkpointDue(s.ov.active)
}

// overlayFull reports whether the writes not yet checkpointed fill the
// overlay while a checkpoint runs: the committer then waits for it
// before committing more (maybeCheckpoint). The caller holds commitMu.
func (s *Store) overlayFull() bool {
	return s.ckptRunning && s.ov.active.bytes >= maxOverlayBytes
}

// nudgeCommitter asks the committer to see whether a checkpoint is due.
func (s *Store) nudgeCommitter() {
	select {
	case s.nudge <- struct{}{}:
	default:
	}
}
