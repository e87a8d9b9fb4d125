package boltstore

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"

	"kvhttp/store"
)

// Group commit.
//
// A durable write costs one append to the write-ahead log and one
// fdatasync whether the batch holds one write or a thousand, so Put,
// Delete and PutAll do not each sync. They hand a writeOp to the Store's
// queue and wait (PutAsync and DeleteAsync hand it with a completion and
// return, and the committer calls the completion where it would wake a
// writer); one committer goroutine takes everything waiting, up to
// maxBatchOps operations or maxBatchBytes of keys and records, applies
// the operations in queue order to a staging memtable, appends the
// batch's outcome to the log as one frame, syncs it, adds it to the
// overlay that reads consult (overlay.go), and only then wakes each
// writer with its own outcome. There is no timer: the next batch is taken
// as soon as the previous sync returns, so a lone writer waits for one
// sync, and under load a writer waits for the sync in progress and then
// its own. (Under load the committer may first let other goroutines run
// once, so that writers on their way join the batch; see commitLoop.)
// bbolt's DB.Batch, by contrast, waits up to MaxBatchDelay, 10 ms by
// default, for a batch to fill, and then pays bbolt's two fsyncs. The
// checkpointer writes the log's batches to bbolt later (checkpoint.go).
//
// Each operation checks its condition against the state the operations
// queued before it left (staging, then overlay, then bbolt), so per-key
// atomicity, create-only writes and compare-and-swap behave exactly as
// with one transaction per write. A failed condition fails that
// operation only. If the log append or sync fails, every operation of the
// batch fails with that error: none is reported as applied, none is
// visible to reads, and the log is cut back so that none comes back at
// recovery.

const (
	// queueLen is how many operations may wait for the committer; a writer
	// that finds the queue full waits for room (back-pressure).
	queueLen = 4096
	// maxBatchOps and maxBatchBytes bound one transaction: the committer
	// stops taking operations when either is reached. An operation larger
	// than maxBatchBytes makes a batch of its own.
	maxBatchOps   = 1024
	maxBatchBytes = 4 << 20
	// maxOver bounds the asynchronous writes waiting for room in the
	// queue (Store.over); past it they fail with store.ErrBusy. A server
	// has at most one such write a connection, and at most
	// server.DefaultMaxConns connections by default.
	maxOver = 16384
	// maxPooledRec is the largest record buffer kept for reuse with a
	// writeOp; larger ones are left to the garbage collector.
	maxPooledRec = 64 << 10
)

// A writeOp is one Put or Delete on its way through the committer. The
// writer fills key, rec, del and cond; the committer fills res and err and
// then signals done, after which it never touches the op again.
type writeOp struct {
	key  []byte
	rec  []byte // the encoded record of a put, its version set on apply
	del  bool
	cond store.Cond
	// all is a PutAll's items; rec then holds their records back to back.
	all []store.Item

	res  store.Result
	err  error
	done chan struct{} // buffered: the committer never waits to signal
	// then, if set, gets the outcome instead of done (PutAsync,
	// DeleteAsync); name is the operation's, for its error, and keyBuf
	// holds its copy of the key.
	then   func(store.Result, error)
	name   string
	keyBuf []byte
}

// opPool recycles writeOps, their done channels and their record buffers,
// so that a write allocates nothing of its own once the pool is warm.
var opPool = sync.Pool{New: func() any { return &writeOp{done: make(chan struct{}, 1)} }}

func getOp() *writeOp { return opPool.Get().(*writeOp) }

// releaseOp returns op to the pool. Its done channel is empty: every send
// by the committer has been received by the writer.
func releaseOp(op *writeOp) {
	// A PutAll's records stay in the overlay: its arena is never reused.
	if cap(op.rec) > maxPooledRec || op.all != nil {
		op.rec = nil
	} else {
		op.rec = op.rec[:0]
	}
	if cap(op.keyBuf) > maxPooledRec {
		op.keyBuf = nil
	}
	op.key, op.del, op.cond, op.res, op.err, op.all = nil, false, store.Cond{}, store.Result{}, nil, nil
	op.then, op.name = nil, ""
	opPool.Put(op)
}

// size is what op adds to a batch, in bytes.
func (op *writeOp) size() int {
	n := len(op.key) + len(op.rec)
	for _, it := range op.all {
		n += len(it.Key)
	}
	return n
}

// write runs op through the committer and returns its outcome. It gives
// up only while waiting for room in the queue, with ctx's error or
// store.ErrClosed, and then nothing was applied. Once op is queued, write
// waits for the commit whatever ctx says, so that the outcome it returns
// is the truth. write recycles op.
func (s *Store) write(ctx context.Context, op *writeOp) (store.Result, error) {
	if err := s.enqueue(ctx, op); err != nil {
		releaseOp(op)
		return store.Result{}, err
	}
	<-op.done
	res, err := op.res, op.err
	releaseOp(op)
	return res, err
}

// submit queues op, whose outcome goes to then, without waiting: when the
// queue is full, op waits in s.over instead. op keeps a copy of key. On
// error nothing is queued, then is not called and op is recycled.
func (s *Store) submit(op *writeOp, name string, key []byte, then func(store.Result, error)) error {
	op.keyBuf = append(op.keyBuf[:0], key...)
	op.key, op.then, op.name = op.keyBuf, then, name
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed.Load() {
		releaseOp(op)
		return store.ErrClosed
	}
	s.overMu.Lock()
	defer s.overMu.Unlock()
	if len(s.over) == 0 && s.holds.Load() == 0 {
		s.queued.Add(1)
		select {
		case s.queue <- op:
			return nil
		default:
			s.queued.Add(-1)
		}
	}
	if len(s.over) >= maxOver {
		releaseOp(op)
		return store.ErrBusy
	}
	s.over = append(s.over, op)
	return nil
}

// refill moves the writes waiting in s.over into the queue, as far as it
// has room. The committer calls it after each batch: s.over fills only
// while the queue is full, so the committer always has a batch to take
// before the next refill, or while an event loop holds writes, which it
// commits itself or hands over with a refill (held.go).
func (s *Store) refill() {
	s.mu.RLock() // Close may close the queue meanwhile: then drainOver
	defer s.mu.RUnlock()
	if s.closed.Load() {
		return
	}
	s.overMu.Lock()
	defer s.overMu.Unlock()
	n := 0
	for _, op := range s.over {
		s.queued.Add(1)
		select {
		case s.queue <- op:
			n++
			continue
		default:
			s.queued.Add(-1)
		}
		break
	}
	if n == 0 {
		return
	}
	rest := copy(s.over, s.over[n:])
	clear(s.over[rest:])
	s.over = s.over[:rest]
}

// drainOver commits what waits in s.over, after Close closed the queue.
func (s *Store) drainOver() {
	s.overMu.Lock()
	over := s.over
	s.over = nil
	s.overMu.Unlock()
	for len(over) > 0 {
		n := min(len(over), maxBatchOps)
		s.commit(over[:n])
		over = over[n:]
	}
}

// finish hands op's outcome to its writer: to then, and op goes back to
// the pool, or through done to the writer waiting in write.
func (op *writeOp) finish() {
	if op.then == nil {
		op.done <- struct{}{}
		return
	}
	then, name, res, err := op.then, op.name, op.res, op.err
	releaseOp(op)
	if err != nil {
		res, err = store.Result{}, fail(name, err)
	}
	then(res, err)
}

// enqueue puts op on the queue, waiting while it is full. Senders hold
// s.mu shared; Close takes it exclusively to set closed and close the
// queue, so no send can reach a closed channel.
func (s *Store) enqueue(ctx context.Context, op *writeOp) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed.Load() {
		return store.ErrClosed
	}
	s.queued.Add(1)
	select {
	case s.queue <- op:
		return nil
	default:
	}
	select {
	case s.queue <- op:
		return nil
	case <-ctx.Done():
		s.queued.Add(-1)
		return ctx.Err()
	}
}

// start starts the committer and the checkpointer; Open calls it once.
func (s *Store) start() {
	go s.checkpointLoop()
	go s.commitLoop()
}

// commitLoop is the committer. It runs until Close closes the queue and it
// has committed everything queued before that, then writes the overlay to
// bbolt (finish) and closes s.stopped.
func (s *Store) commitLoop() {
	defer close(s.stopped)
	tick := time.NewTicker(s.ckptEvery / 4)
	defer tick.Stop()
	batch := make([]*writeOp, 0, maxBatchOps)
	last := 0 // the size of the last batch
	for {
		var op *writeOp
		select {
		case o, ok := <-s.queue:
			if !ok {
				s.commitMu.Lock()
				defer s.commitMu.Unlock()
				s.drainOver()
				s.finish()
				return
			}
			op = o
		case <-tick.C:
		case <-s.nudge:
		}
		if op == nil {
			s.commitMu.Lock()
			s.maybeCheckpoint(false)
			s.unlockCommit()
			continue
		}
		batch = s.fill(append(batch[:0], op))
		// Under load, a batch much smaller than the last one means its
		// writers are still on their way: those the last commit woke, and
		// those whose requests are being read. Letting them run first
		// (once) lets them share this sync instead of waiting for the
		// next. With nothing else to run, Gosched returns at once, so a
		// lone writer does not wait; with much to run, the scheduler's
		// fairness bounds the wait. Measured: about a quarter more writes
		// per sync and a few per cent more durable writes a second
		// (docs/PERFORMANCE.md).
		if len(batch) < last/2 {
			runtime.Gosched()
			batch = s.fill(batch)
		}
		last = len(batch)
		s.commitMu.Lock()
		s.commit(batch)
		s.queued.Add(-int64(len(batch)))
		s.maybeCheckpoint(false) // may wait for a checkpoint: back-pressure
		s.unlockCommit()
		clear(batch) // keep no op alive: its writer may reuse it
		// Held writes waiting for commitMu are for the round that
		// unlockCommit started.
		if !s.held.waiting.Load() {
			s.refill()
		}
	}
}

// fill adds to batch what waits in the queue, without waiting, until the
// batch holds maxBatchOps operations or maxBatchBytes of them.
func (s *Store) fill(batch []*writeOp) []*writeOp {
	size := 0
	for _, op := range batch {
		size += op.size()
	}
	for len(batch) < maxBatchOps && size < maxBatchBytes {
		select {
		case op, ok := <-s.queue:
			if !ok {
				return batch // commit this batch; the next receive sees the close
			}
			batch = append(batch, op)
			size += op.size()
		default:
			return batch
		}
	}
	return batch
}

// commit applies batch in order, logs its outcome, and wakes every
// writer, each with its own outcome, or all with the log's error. The
// caller holds commitMu.
func (s *Store) commit(batch []*writeOp) {
	s.complete(batch, s.logBatch(batch))
}

// complete ends the commit of batch, whose log append (and sync) ended
// with err: it makes the staged writes visible to reads, unless err, and
// hands every writer its outcome. The caller holds commitMu.
func (s *Store) complete(batch []*writeOp, err error) {
	s.commits.Add(1)
	if err != nil {
		err = fmt.Errorf("commit of %d writes: %w", len(batch), err)
	} else {
		s.ov.merge(s.staged)
		if s.activeSince.IsZero() {
			s.activeSince = time.Now()
		}
	}
	for _, op := range batch {
		if err != nil {
			op.res, op.err = store.Result{}, err
		}
		op.finish()
	}
}

// logBatch applies batch to a fresh staging memtable and writes the
// outcome to the log, synced. On error nothing of the batch is kept:
// not the staging, not the versions drawn, not the frame. A panic
// becomes the batch's error, as in stage.
func (s *Store) logBatch(batch []*writeOp) (err error) {
	seq := s.seq
	defer func() {
		if v := recover(); v != nil {
			err = panicError(v)
		}
		if err != nil {
			s.unstage(seq)
		}
	}()
	logged, err := s.stage(batch)
	if err == nil && logged {
		if err = s.seg.append(s.frame, s.logSync); err != nil {
			err = s.logError(err)
		}
	}
	if err == nil {
		s.keepFrame()
	}
	return err
}

// stage applies batch to a fresh staging memtable and encodes the
// outcome as a log frame in s.frame, making the generation's segment if
// there is none yet. It reports false when there is nothing to log (the
// batch's conditions all failed). On error the caller drops what stage
// did with unstage. A panic, which bbolt raises reading pages it cannot
// make sense of, becomes the batch's error, and the committer lives on
// for the other writers, as the server lives on after a handler's panic.
func (s *Store) stage(batch []*writeOp) (logged bool, err error) {
	defer func() {
		if v := recover(); v != nil {
			err = panicError(v)
		}
	}()
	if err := s.canLog(); err != nil {
		return false, err
	}
	s.staged.reset()
	for _, op := range batch {
		s.apply(op)
	}
	if s.staged.len() == 0 {
		return false, nil // only failed conditions: nothing to make durable
	}
	s.staged.maxSeq = s.seq
	if s.seg == nil {
		sg, err := createSegment(s.dir, s.ov.active.gen, s.takeSpare())
		if err != nil {
			return false, fmt.Errorf("write-ahead log: %w", err)
		}
		s.seg = sg
	}
	s.frame = appendFrame(s.frame[:0], s.seg.gen, s.seq, s.staged)
	return true, nil
}

// unstage drops what stage did for a batch that failed: the staging and
// the versions drawn since the counter was seq.
func (s *Store) unstage(seq uint64) {
	s.seq = seq
	s.staged.reset()
}

// logError wraps the error of a log append; a log that could not be cut
// back takes no more writes.
func (s *Store) logError(err error) error {
	if errors.Is(err, errLogBroken) {
		s.broken = err
	}
	return fmt.Errorf("write-ahead log: %w", err)
}

// keepFrame keeps the frame buffer for the next batch, unless one huge
// PutAll made it so large that it should not stay pinned.
func (s *Store) keepFrame() {
	if cap(s.frame) > maxPooledRec*16 {
		s.frame = nil
	}
}

// panicError turns a recovered panic value into an error.
func panicError(v any) error {
	if e, ok := v.(error); ok {
		return fmt.Errorf("panic: %w", e)
	}
	return fmt.Errorf("panic: %v", v)
}

// apply checks op's condition against the state the operations before it
// left, and stages its write if the condition holds.
func (s *Store) apply(op *writeOp) {
	if op.all != nil {
		off := 0
		for _, it := range op.all {
			n := recordLen(it.ContentType, it.Value)
			rec := op.rec[off : off+n : off+n]
			off += n
			s.seq++
			setRecordVersion(rec, s.seq)
			s.staged.set(it.Key, rec) // the arena is PutAll's own
		}
		return
	}
	var old []byte
	op.err = s.current(op.key, func(raw []byte) error {
		old = raw
		return checkCond(raw, op.cond)
	})
	if op.err != nil {
		return
	}
	if op.del {
		s.staged.set(op.key, nil)
		return
	}
	s.seq++
	rec := append([]byte(nil), op.rec...) // op.rec goes back to the pool
	setRecordVersion(rec, s.seq)
	s.staged.set(op.key, rec)
	op.res = store.Result{Version: s.seq, Created: old == nil}
}

// current calls fn with key's latest record as the committer sees it
// (staged, then overlay, then bbolt), nil if absent. raw is valid only
// during fn.
func (s *Store) current(key []byte, fn func(raw []byte) error) error {
	if rec, ok := s.staged.get(key); ok {
		return fn(rec)
	}
	return s.find(key, fn)
}

// find calls fn with key's latest acknowledged record, nil if absent,
// from the overlay or else from bbolt. raw is valid only during fn.
func (s *Store) find(key []byte, fn func(raw []byte) error) error {
	if rec, ok := s.ov.get(key); ok {
		return fn(rec)
	}
	return s.lookup(key, fn)
}
