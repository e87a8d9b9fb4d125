package boltstore

import (
	"bytes"
	"hash/maphash"
	"runtime"
	"sync"
	"sync/atomic"

	bolt "go.etcd.io/bbolt"
)

// Reads share a few read transactions (snapshots) instead of beginning
// and ending one per Get: bbolt's Begin and Rollback take the database's
// locks and allocate, and they cost a GET more than finding its key.
//
// bbolt allows a transaction to be used by one goroutine at a time, so
// each snapshot has a mutex, and a Get takes whichever is free (or opens
// its own transaction, as before, when none is). A snapshot is kept only
// while nothing writes: every write transaction first marks itself
// (writing) and ends every snapshot, and no snapshot is begun while one
// is marked. So:
//
//   - a Get that starts after a write was acknowledged begins a new
//     snapshot or its own transaction, and sees the write: reads stay
//     linearizable;
//   - no snapshot is open while bbolt commits, so a commit that must
//     grow the file's memory map (which waits for every read
//     transaction) never waits for one, and no snapshot keeps pages
//     that commits free from being reused.
//
// Under a steady write load, Gets mostly take their own transactions.
type snapshots struct {
	writing atomic.Int32 // write transactions under way
	seed    maphash.Seed
	shards  []snapshot
}

// snapshot is one shared read transaction, begun on first use.
type snapshot struct {
	mu  sync.Mutex
	tx  *bolt.Tx
	cur *bolt.Cursor // on the data bucket, as tx sees it
	_   [64]byte     // keeps shards off each other's cache lines
}

func newSnapshots() *snapshots {
	return &snapshots{seed: maphash.MakeSeed(), shards: make([]snapshot, 2*runtime.GOMAXPROCS(0))}
}

// lookup calls fn with key's stored record (nil if absent), read from a
// snapshot, or from a transaction of its own when no snapshot can be had.
// raw is valid only during fn.
func (s *Store) lookup(key []byte, fn func(raw []byte) error) error {
	if sn := s.snaps.take(s.db, key); sn != nil {
		defer sn.mu.Unlock() // even if bbolt panics on a bad page
		return fn(sn.get(key))
	}
	return s.db.View(func(tx *bolt.Tx) error { return fn(tx.Bucket(dataBucket).Get(key)) })
}

// get finds key in the snapshot. Its cursor is reused, stack and all, so
// a lookup allocates nothing.
func (sn *snapshot) get(key []byte) []byte {
	k, v := sn.cur.Seek(key)
	if !bytes.Equal(k, key) {
		return nil
	}
	return v // nil for a nested bucket, which the data bucket never holds
}

// take returns a locked snapshot, begun if need be, or nil. It starts at
// a shard picked by key, so concurrent Gets spread over the shards.
func (ss *snapshots) take(db *bolt.DB, key []byte) *snapshot {
	if ss.writing.Load() != 0 {
		return nil
	}
	n := len(ss.shards)
	start := int(maphash.Bytes(ss.seed, key) % uint64(n))
	for i := range n {
		sn := &ss.shards[(start+i)%n]
		if !sn.mu.TryLock() {
			continue
		}
		// Checked again under the lock: a writer marks itself, then
		// takes every lock to end the snapshots.
		if ss.writing.Load() != 0 {
			sn.mu.Unlock()
			return nil
		}
		if sn.tx == nil {
			tx, err := db.Begin(false)
			if err != nil {
				sn.mu.Unlock()
				return nil // the caller's own transaction reports it
			}
			sn.tx, sn.cur = tx, tx.Bucket(dataBucket).Cursor()
		}
		return sn
	}
	return nil
}

// update runs fn in a write transaction (through commit, db.Update or
// the tests' stand-in), with every snapshot ended first and none begun
// until it returns.
func (s *Store) update(commit func(func(*bolt.Tx) error) error, fn func(*bolt.Tx) error) error {
	s.snaps.writing.Add(1)
	defer s.snaps.writing.Add(-1)
	s.snaps.endAll()
	return commit(fn)
}

// endAll ends every snapshot; callers have marked themselves writing.
func (ss *snapshots) endAll() {
	for i := range ss.shards {
		sn := &ss.shards[i]
		sn.mu.Lock()
		if sn.tx != nil {
			sn.tx.Rollback()
			sn.tx, sn.cur = nil, nil
		}
		sn.mu.Unlock()
	}
}
