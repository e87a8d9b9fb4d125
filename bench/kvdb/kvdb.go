// Package kvdb is the storage shared by the benchmark's peer servers: one
// bbolt file in a data folder, one bucket "kv". Reads copy the value out of
// a read transaction; writes go through bbolt's Batch, so a Put returns only
// once its commit is on disk (the database is never opened with NoSync).
// This is the bbolt-Batch reference that kvhttp's own store is measured
// against.
package kvdb

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
)

// FileName is the name of the bbolt file inside the data folder.
const FileName = "kv.db"

var bucket = []byte("kv")

// ErrBadKey is returned by Put for an empty key or one over MaxKeySize.
var ErrBadKey = errors.New("key empty or too long")

// DB is a key-value store on one bbolt file. It is safe for concurrent use.
type DB struct {
	bolt *bolt.DB
}

// Open creates dir if needed and opens (or creates) the bbolt file in it,
// with the bucket "kv".
func Open(dir string) (*DB, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("kvdb: create data folder: %w", err)
	}
	path := filepath.Join(dir, FileName)
	b, err := bolt.Open(path, 0o644, &bolt.Options{Timeout: time.Second})
	if err != nil {
		return nil, fmt.Errorf("kvdb: open %s: %w", path, err)
	}
	err = b.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(bucket)
		return err
	})
	if err != nil {
		return nil, errors.Join(fmt.Errorf("kvdb: create bucket: %w", err), b.Close())
	}
	return &DB{bolt: b}, nil
}

// MaxKeySize is the longest key Put accepts (bbolt's limit).
const MaxKeySize = bolt.MaxKeySize

// Get returns a copy of key's value, and whether the key exists.
func (d *DB) Get(key []byte) ([]byte, bool, error) {
	return d.Append(nil, key)
}

// Append appends key's value to dst and returns the extended slice, and
// whether the key exists; a caller that reuses dst avoids an allocation
// per read.
func (d *DB) Append(dst, key []byte) ([]byte, bool, error) {
	ok := false
	err := d.bolt.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucket).Get(key); v != nil {
			dst, ok = append(dst, v...), true
		}
		return nil
	})
	if err != nil {
		return dst, false, fmt.Errorf("kvdb: get: %w", err)
	}
	return dst, ok, nil
}

// Put stores value under key through a batched, durable commit, and reports
// whether the key is new. A key that is empty or over MaxKeySize is an
// error wrapping ErrBadKey.
func (d *DB) Put(key, value []byte) (created bool, err error) {
	if len(key) == 0 || len(key) > MaxKeySize {
		return false, fmt.Errorf("kvdb: put: key of %d bytes: %w", len(key), ErrBadKey)
	}
	err = d.bolt.Batch(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucket)
		// Batch may run this function again: decide created afresh.
		created = b.Get(key) == nil
		return b.Put(key, value)
	})
	if err != nil {
		return false, fmt.Errorf("kvdb: put: %w", err)
	}
	return created, nil
}

// Close closes the bbolt file.
func (d *DB) Close() error {
	if err := d.bolt.Close(); err != nil {
		return fmt.Errorf("kvdb: close: %w", err)
	}
	return nil
}
