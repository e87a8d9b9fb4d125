package boltstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// DefaultCheckpointEvery is the longest logged writes wait for a
// checkpoint when Options.CheckpointEvery is zero. The log's size bounds
// the wait under load (checkpointLogBytes), so the period only matters to
// a server that writes little; a short one would make a busy server
// rewrite its hot keys' pages into bbolt again and again (measured in
// docs/PERFORMANCE.md: about 5% of a durable write's CPU at 1 s).
const DefaultCheckpointEvery = 30 * time.Second

// Checkpoints.
//
// The log grows with every batch; a checkpoint writes what it holds to
// bbolt so that its segments can go. The committer decides when: once the
// active memtable is Options.CheckpointEvery old or holds checkpointBytes,
// or its log segment has reached checkpointLogBytes, it freezes it, and
// the next batch starts a new segment. The checkpointer
// goroutine writes the frozen memtable to bbolt in one transaction (its
// keys in order, the version counter, and the generation now applied,
// under genKey), which bbolt commits with its own fsyncs; then the
// frozen memtable is dropped from the overlay and its segment deleted.
//
// One checkpoint runs at a time. The committer goes on logging batches
// meanwhile; if the active memtable reaches maxOverlayBytes before the
// checkpoint ends, the committer waits for it (back-pressure on writers
// through the queue), and if checkpoints fail, writes fail with their
// error once it has, rather than let memory grow without bound. A failed
// checkpoint is retried every checkpointRetry; its segments stay, so
// nothing is lost if the process stops first.
//
// checkpointBytes keeps each checkpoint small: bbolt's commit of a large
// one fills the disk's queue, and the log's syncs, so every durable write,
// wait behind it (32 MiB checkpoints of new keys took the PUT p99 from 12
// to 55-95 ms). The memtable keeps only the newest record of a key, but
// the log keeps every write: checkpointLogBytes bounds what a restart
// after a crash replays when the same keys are written over and over (64
// MiB, Redis' smallest AOF rewrite; about half a second to replay here).
const (
	checkpointBytes    = 4 << 20
	checkpointLogBytes = 64 << 20
	maxOverlayBytes    = 128 << 20
	checkpointRetry    = time.Second
)

// genKey, in the meta bucket, holds the newest log generation that bbolt
// holds all of (8 bytes, big-endian); segments up to it are spent.
var genKey = []byte("loggen")

// checkpointLoop is the checkpointer. It writes each memtable it is sent
// to bbolt and reports the outcome on ckptDone, until the committer
// closes ckptReq.
func (s *Store) checkpointLoop() {
	defer close(s.ckptStopped)
	for mt := range s.ckptReq {
		s.ckptDone <- s.checkpoint(mt, true)
	}
}

// checkpoint writes mt to bbolt, drops it from the overlay, and deletes
// its segment and any older one, or keeps its segment's file as a spare
// if recycle is true (segment.go). A segment left behind is harmless
// (recovery skips the generations bbolt holds, and the next checkpoint
// tries again), so failing to delete one does not fail the checkpoint.
func (s *Store) checkpoint(mt *memtable, recycle bool) error {
	if err := s.writeMemtable(mt); err != nil {
		return err
	}
	s.ov.thaw()
	s.recycleSegments(mt.gen, recycle)
	return nil
}

// writeMemtable writes mt to bbolt in one transaction, with mt's
// generation as the one applied. A panic in bbolt becomes the error.
func (s *Store) writeMemtable(mt *memtable) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = panicError(v)
		}
	}()
	err = s.update(s.commitTx, func(tx *bolt.Tx) error {
		b := tx.Bucket(dataBucket)
		var err error
		mt.each(func(k string, rec []byte) bool { // in key order, which bbolt fills pages best in
			if rec != nil {
				err = b.Put([]byte(k), rec)
			} else {
				err = b.Delete([]byte(k))
			}
			if err != nil {
				err = fmt.Errorf("key %q: %w", k, err)
			}
			return err == nil
		})
		if err != nil {
			return err
		}
		if mt.maxSeq > b.Sequence() {
			if err := b.SetSequence(mt.maxSeq); err != nil {
				return err
			}
		}
		meta := tx.Bucket(metaBucket)
		if err := meta.Put(genKey, binary.BigEndian.AppendUint64(nil, mt.gen)); err != nil {
			return err
		}
		return meta.Put(formatKey, []byte{storeFormat})
	})
	if err != nil {
		return fmt.Errorf("checkpoint of generation %d: %w", mt.gen, err)
	}
	return nil
}

// maybeCheckpoint starts a checkpoint if one is due and none is running;
// force makes any non-empty memtable due. It collects the outcome of a
// finished checkpoint, and waits for a running one while the overlay is
// over its bound. Only the committer calls it.
func (s *Store) maybeCheckpoint(force bool) {
	for {
		select {
		case err := <-s.ckptDone:
			s.ckptRunning = false
			s.ckptErr, s.ckptFailed = err, time.Now()
		default:
		}
		if !s.ckptRunning || s.ov.active.bytes < maxOverlayBytes {
			break
		}
		err := <-s.ckptDone // back-pressure
		s.ckptRunning = false
		s.ckptErr, s.ckptFailed = err, time.Now()
	}
	if s.ckptRunning {
		return
	}
	if s.ov.isFrozen() {
		// The last checkpoint failed: try it again, now and then.
		if force || time.Since(s.ckptFailed) >= checkpointRetry {
			s.ckptRunning = true
			s.ckptReq <- s.ov.frozen
		}
		return
	}
	active := s.ov.active
	if active.len() == 0 {
		return
	}
	if !force && !s.checkpointDue(active) {
		return
	}
	if s.seg != nil {
		if err := s.seg.end(s.seq, s.logSync); err != nil {
			if errors.Is(err, errLogBroken) {
				s.broken = err
			}
			return // the segment goes on; try again later
		}
		s.seg = nil // the next batch starts the next segment
	}
	fz := s.ov.freeze(active.gen + 1)
	s.activeSince = time.Time{}
	s.ckptRunning = true
	s.ckptReq <- fz
}

// checkpointDue reports whether the active memtable is due for a
// checkpoint: old enough, or it or its log segment big enough.
func (s *Store) checkpointDue(active *memtable) bool {
	return active.bytes >= checkpointBytes ||
		(s.seg != nil && s.seg.off >= s.ckptLogBytes) ||
		time.Since(s.activeSince) >= s.ckptEvery
}

// canLog reports why the committer must not log a batch: a log it could
// not cut back after a failure, or checkpoints failing while the overlay
// is full.
func (s *Store) canLog() error {
	if s.broken != nil {
		return s.broken
	}
	if s.ov.active.bytes >= maxOverlayBytes && s.ov.isFrozen() && !s.ckptRunning && s.ckptErr != nil {
		return fmt.Errorf("overlay full and checkpoints failing: %w", s.ckptErr)
	}
	return nil
}

// finish runs when the queue is closed and drained: it writes the whole
// overlay to bbolt and stops the checkpointer. An error is kept for Close;
// the log then stays, and the next Open replays it.
func (s *Store) finish() {
	if s.ckptRunning {
		err := <-s.ckptDone
		s.ckptRunning = false
		s.ckptErr = err
	}
	close(s.ckptReq)
	<-s.ckptStopped
	if s.seg != nil {
		// No end frame: this segment stays the newest, and if the
		// checkpoint below fails, recovery reads it to its last frame.
		s.seg.f.Close()
		s.seg = nil
	}
	var errs []error
	if s.ov.isFrozen() {
		if err := s.checkpoint(s.ov.frozen, false); err != nil {
			errs = append(errs, err)
		}
	}
	switch {
	case len(errs) > 0:
	case s.ov.active.len() > 0:
		fz := s.ov.freeze(s.ov.active.gen + 1)
		if err := s.checkpoint(fz, false); err != nil {
			errs = append(errs, err)
		}
	default:
		// No write of this generation was acknowledged, but its segment
		// may hold a frame whose writers were told it failed (the log
		// could not be cut back): delete it, durably, so that no Open
		// replays it.
		err := s.recycleSegments(s.ov.active.gen, false)
		if err == nil {
			err = syncDir(s.dir)
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	s.dropSpares()
	s.finishErr = errors.Join(errs...)
}
