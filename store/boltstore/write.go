package boltstore

import (
	"context"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"kvhttp/store"
)

// Put stores value and contentType under key if cond holds, checking cond
// and writing in one transaction. It fails with an error wrapping
// store.ErrExists (IfAbsent), store.ErrNotFound (IfPresent, IfVersion) or
// store.ErrVersionMismatch (IfVersion), and then changes nothing.
//
// Every applied write gets a new version from a counter that the log and
// the file keep, so a key never sees the same version twice, even across
// Delete. Put returns after the log frame holding the write has been
// synced; concurrent writes share frames and syncs (see Group commit in
// the package documentation), and a write queued before another one is
// applied before it. ctx is honoured only until the write is queued: Put
// then waits for the sync, so that a nil error always means the write is
// on disk and an error always means it was not applied.
func (s *Store) Put(ctx context.Context, key, value, contentType []byte, cond store.Cond) (store.Result, error) {
	if err := s.ready(ctx); err != nil {
		return store.Result{}, fail("put", err)
	}
	op, err := putOp(key, value, contentType, cond)
	if err != nil {
		return store.Result{}, fail("put", err)
	}
	res, err := s.write(ctx, op)
	if err != nil {
		return store.Result{}, fail("put", err)
	}
	return res, nil
}

// PutAsync is Put without the wait: it queues the write and returns, and
// the committer calls then, once, with what Put would have returned,
// after the sync. then runs on the committer's goroutine and holds up
// every write behind it: it must only hand the outcome on. key, value and
// contentType are copied; the caller may reuse them at once. PutAsync
// never waits: when the queue is full, the write waits in a list of its
// own, in order, which the committer empties into the queue as room
// comes; so one caller's asynchronous writes are applied in the order it
// made them. That list is bounded too (16,384 writes, above the server's
// default connection cap, since a connection has at most one write in
// flight): past it PutAsync fails with store.ErrBusy. Any error from
// PutAsync itself (closed store, invalid key, busy) means nothing was
// queued, and then is not called. A write PutAsync accepted before Close
// is committed before Close returns.
func (s *Store) PutAsync(key, value, contentType []byte, cond store.Cond, then func(store.Result, error)) error {
	if err := s.ready(context.Background()); err != nil {
		return fail("put", err)
	}
	op, err := putOp(key, value, contentType, cond)
	if err != nil {
		return fail("put", err)
	}
	if err := s.submit(op, "put", key, then); err != nil {
		return fail("put", err)
	}
	return nil
}

// putOp checks a Put's arguments and makes its op.
func putOp(key, value, contentType []byte, cond store.Cond) (*writeOp, error) {
	if err := store.CheckKey(key, contentType); err != nil {
		return nil, err
	}
	// What bbolt would reject inside the batch is rejected here, before a
	// version is drawn for it.
	n := recordLen(contentType, value)
	switch {
	case len(key) > bolt.MaxKeySize:
		return nil, berrors.ErrKeyTooLarge
	case int64(n) > bolt.MaxValueSize:
		return nil, berrors.ErrValueTooLarge
	}
	op := getOp()
	op.key, op.cond = key, cond
	// Encode before queueing; the committer sets the version.
	op.rec = appendRecord(op.rec[:0], 0, contentType, value)
	return op, nil
}

// Delete removes key if cond holds, checking and deleting in one
// transaction. Always and IfPresent fail with an error wrapping
// store.ErrNotFound when key is absent; IfVersion as for Put. IfAbsent is
// rejected. Delete returns after the log frame holding it has been synced,
// and treats ctx as Put does.
func (s *Store) Delete(ctx context.Context, key []byte, cond store.Cond) error {
	if err := s.ready(ctx); err != nil {
		return fail("delete", err)
	}
	op, err := deleteOp(key, cond)
	if err != nil {
		return fail("delete", err)
	}
	if _, err := s.write(ctx, op); err != nil {
		return fail("delete", err)
	}
	return nil
}

// DeleteAsync is Delete without the wait, as PutAsync is Put's; then gets
// a zero Result.
func (s *Store) DeleteAsync(key []byte, cond store.Cond, then func(store.Result, error)) error {
	if err := s.ready(context.Background()); err != nil {
		return fail("delete", err)
	}
	op, err := deleteOp(key, cond)
	if err != nil {
		return fail("delete", err)
	}
	if err := s.submit(op, "delete", key, then); err != nil {
		return fail("delete", err)
	}
	return nil
}

// deleteOp checks a Delete's arguments and makes its op.
func deleteOp(key []byte, cond store.Cond) (*writeOp, error) {
	if len(key) == 0 {
		return nil, store.ErrEmptyKey
	}
	switch cond.Kind {
	case store.IfAbsent:
		return nil, fmt.Errorf("IfAbsent would never delete: %w", store.ErrInvalidCond)
	case store.Always:
		cond.Kind = store.IfPresent // deleting nothing is reported
	}
	op := getOp()
	op.key, op.cond, op.del = key, cond, true
	return op, nil
}

// maxPutAllBytes bounds one PutAll: it is one log frame, whose length is
// 32 bits, and the batch it joins may hold maxBatchBytes and one more
// write (a value of at most bbolt's 2 GiB) besides.
const maxPutAllBytes = 1 << 30

// ErrBatchTooLarge is returned by a PutAll too large for one log frame.
var ErrBatchTooLarge = errors.New("boltstore: batch too large")

// PutAll stores every item unconditionally, all of them or, on any
// error, none: it goes through the committer as one operation, and so
// into one log frame, which is replayed whole or not at all. Items are
// checked before anything is written; a later item with the same key as
// an earlier one wins. Each item gets its own new version; the Version
// field of items is ignored. An empty batch writes nothing. ctx is
// honoured until the batch is queued, as for Put.
func (s *Store) PutAll(ctx context.Context, items []store.Item) error {
	if err := s.ready(ctx); err != nil {
		return fail("putall", err)
	}
	size, total := 0, 0 // of the records; of records and keys
	for i, it := range items {
		if err := store.CheckKey(it.Key, it.ContentType); err != nil {
			return fail("putall", fmt.Errorf("item %d: %w", i, err))
		}
		n := recordLen(it.ContentType, it.Value)
		switch {
		case len(it.Key) > bolt.MaxKeySize:
			return fail("putall", fmt.Errorf("item %d: %w", i, berrors.ErrKeyTooLarge))
		case int64(n) > bolt.MaxValueSize:
			return fail("putall", fmt.Errorf("item %d: %w", i, berrors.ErrValueTooLarge))
		}
		size += n
		if total += len(it.Key) + n; total > maxPutAllBytes {
			return fail("putall", fmt.Errorf("%w: more than %d bytes", ErrBatchTooLarge, maxPutAllBytes))
		}
	}
	if len(items) == 0 {
		return nil
	}
	// One allocation for all records, encoded before queueing. The
	// overlay keeps them until a checkpoint has written them to bbolt.
	arena := make([]byte, 0, size)
	for _, it := range items {
		arena = appendRecord(arena, 0, it.ContentType, it.Value)
	}
	op := getOp()
	op.all, op.rec = items, arena
	if _, err := s.write(ctx, op); err != nil {
		return fail("putall", err)
	}
	return nil
}

// checkCond checks cond against old, the stored record or nil if absent.
func checkCond(old []byte, cond store.Cond) error {
	switch cond.Kind {
	case store.Always:
		return nil
	case store.IfAbsent:
		if old != nil {
			return store.ErrExists
		}
		return nil
	case store.IfPresent:
		if old == nil {
			return store.ErrNotFound
		}
		return nil
	case store.IfVersion:
		if old == nil {
			return store.ErrNotFound
		}
		v, err := recordVersion(old)
		if err != nil {
			return err
		}
		if v != cond.Version {
			return store.ErrVersionMismatch
		}
		return nil
	}
	return fmt.Errorf("unknown condition kind %d: %w", cond.Kind, store.ErrInvalidCond)
}
