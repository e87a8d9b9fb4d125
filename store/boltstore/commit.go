package boltstore

import (
	"context"
	"fmt"
	"sync"

	bolt "go.etcd.io/bbolt"

	"kvhttp/store"
)

// Group commit.
//
// An fsynced bbolt commit costs about the same whether it holds one write
// or a thousand, so Put and Delete do not each run their own transaction.
// They hand a writeOp to the Store's queue and wait; one committer
// goroutine takes everything waiting, up to maxBatchOps operations or
// maxBatchBytes of keys and records, applies the operations in queue order
// in one transaction, commits it, and only then wakes each writer with its
// own outcome. There is no timer: the next batch is taken as soon as the
// previous commit returns, so a lone writer waits for one commit, as
// before, and under load a writer waits for the commit in progress and
// then its own (more only when over maxBatchOps writers are waiting). (bbolt's DB.Batch, by contrast, waits up to
// MaxBatchDelay, 10 ms by default, for a batch to fill, and may run a
// function twice.)
//
// Each operation checks its condition inside the transaction, after the
// operations queued before it, so per-key atomicity, create-only writes
// and compare-and-swap behave exactly as with one transaction per write.
// A failed condition fails that operation only. If the commit fails, every
// operation of the batch fails with the commit's error: none is reported
// as applied, and none is on disk.

const (
	// queueLen is how many operations may wait for the committer; a writer
	// that finds the queue full waits for room (back-pressure).
	queueLen = 4096
	// maxBatchOps and maxBatchBytes bound one transaction: the committer
	// stops taking operations when either is reached. An operation larger
	// than maxBatchBytes makes a batch of its own.
	maxBatchOps   = 1024
	maxBatchBytes = 4 << 20
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

	res  store.Result
	err  error
	done chan struct{} // buffered: the committer never waits to signal
}

// opPool recycles writeOps, their done channels and their record buffers,
// so that a write allocates nothing of its own once the pool is warm.
var opPool = sync.Pool{New: func() any { return &writeOp{done: make(chan struct{}, 1)} }}

func getOp() *writeOp { return opPool.Get().(*writeOp) }

// releaseOp returns op to the pool. Its done channel is empty: every send
// by the committer has been received by the writer.
func releaseOp(op *writeOp) {
	op.key, op.del, op.cond, op.res, op.err = nil, false, store.Cond{}, store.Result{}, nil
	if cap(op.rec) > maxPooledRec {
		op.rec = nil
	} else {
		op.rec = op.rec[:0]
	}
	opPool.Put(op)
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

// enqueue puts op on the queue, waiting while it is full. Senders hold
// s.mu shared; Close takes it exclusively to set closed and close the
// queue, so no send can reach a closed channel.
func (s *Store) enqueue(ctx context.Context, op *writeOp) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed.Load() {
		return store.ErrClosed
	}
	select {
	case s.queue <- op:
		return nil
	default:
	}
	select {
	case s.queue <- op:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// start starts the committer; Open calls it once.
func (s *Store) start() { go s.commitLoop() }

// commitLoop is the committer. It runs until Close closes the queue and it
// has committed everything queued before that, then closes s.stopped.
func (s *Store) commitLoop() {
	defer close(s.stopped)
	batch := make([]*writeOp, 0, maxBatchOps)
	for {
		op, ok := <-s.queue
		if !ok {
			return
		}
		batch = append(batch[:0], op)
		size := len(op.key) + len(op.rec)
	fill:
		for len(batch) < maxBatchOps && size < maxBatchBytes {
			select {
			case op, ok := <-s.queue:
				if !ok {
					break fill // commit this batch; the next receive returns
				}
				batch = append(batch, op)
				size += len(op.key) + len(op.rec)
			default:
				break fill
			}
		}
		s.commit(batch)
		clear(batch) // keep no op alive: its writer may reuse it
	}
}

// commit applies batch in order in one transaction, commits it, and wakes
// every writer, each with its own outcome, or all with the commit's error.
func (s *Store) commit(batch []*writeOp) {
	err := s.runBatch(batch)
	s.commits.Add(1)
	if err != nil {
		err = fmt.Errorf("commit of %d writes: %w", len(batch), err)
	}
	for _, op := range batch {
		if err != nil {
			op.res, op.err = store.Result{}, err
		}
		op.done <- struct{}{}
	}
}

// runBatch applies batch in one transaction and commits it. A panic in
// the transaction, which bbolt raises on pages it cannot make sense of,
// becomes the batch's error: bbolt has rolled the transaction back, and
// the committer lives on for the other writers, as the server lives on
// after a handler's panic.
func (s *Store) runBatch(batch []*writeOp) (err error) {
	defer func() {
		if v := recover(); v != nil {
			if e, ok := v.(error); ok {
				err = fmt.Errorf("panic: %w", e)
			} else {
				err = fmt.Errorf("panic: %v", v)
			}
		}
	}()
	return s.update(s.commitTx, func(tx *bolt.Tx) error {
		b := tx.Bucket(dataBucket)
		for _, op := range batch {
			op.apply(b)
		}
		return nil
	})
}

// apply checks op's condition against b, as left by the operations before
// it, and writes if it holds. A failure is op's own: bbolt checks its
// arguments before changing anything, so the transaction stays good for
// the rest of the batch.
func (op *writeOp) apply(b *bolt.Bucket) {
	old := b.Get(op.key)
	if op.err = checkCond(old, op.cond); op.err != nil {
		return
	}
	if op.del {
		op.err = b.Delete(op.key)
		return
	}
	// bbolt keeps op.rec until the commit; the writer, which owns it, is
	// waiting until then.
	v, err := putRecord(b, op.key, op.rec)
	if err != nil {
		op.err = err
		return
	}
	op.res = store.Result{Version: v, Created: old == nil}
}
