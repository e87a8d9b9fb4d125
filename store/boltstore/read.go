package boltstore

import (
	"bytes"
	"context"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"kvhttp/store"
)

// ctxCheckEvery is how many items List and PutAll handle between looks at
// their context: often enough to stop a long call soon, rarely enough to
// cost nothing.
const ctxCheckEvery = 1024

// Get returns the item stored under key, or an error wrapping
// store.ErrNotFound.
//
// It sets buf = append(buf[:0], value...) and then appends the content type,
// so the Item's Value and ContentType are sub-slices of that buffer and a
// caller that reuses one buffer allocates nothing for the value once the
// buffer is large enough. Value's capacity runs over ContentType, so that
// buf = item.Value[:0] keeps a buffer that Get had to grow; do not append to
// Value while ContentType is in use. Item.Key is key itself.
func (s *Store) Get(ctx context.Context, key, buf []byte) (store.Item, error) {
	if err := s.ready(ctx); err != nil {
		return store.Item{}, fail("get", err)
	}
	if len(key) == 0 {
		return store.Item{}, fail("get", store.ErrEmptyKey)
	}
	var it store.Item
	err := s.find(key, func(raw []byte) (err error) {
		it, err = itemOf(key, raw, buf)
		return err
	})
	if err != nil {
		return store.Item{}, fail("get", err)
	}
	return it, nil
}

// GetInMemory is Get answered from memory alone, without waiting: when
// the key's last durable write has not been checkpointed into the data
// file yet (see Checkpoints and recovery in the package documentation),
// it returns what Get would and true; otherwise it returns false, and
// only Get can answer, reading the data file, which may wait for the
// disk. An event loop serves reads with it that it must not wait for.
// buf is used as Get uses it.
func (s *Store) GetInMemory(key, buf []byte) (store.Item, bool, error) {
	if len(key) == 0 || s.closed.Load() {
		return store.Item{}, false, nil
	}
	raw, ok := s.ov.get(key)
	if !ok {
		return store.Item{}, false, nil
	}
	it, err := itemOf(key, raw, buf)
	if err != nil {
		return store.Item{}, true, fail("get", err)
	}
	return it, true, nil
}

// itemOf decodes the record raw (nil for a deleted key) stored under
// key into an Item whose value and content type are copied into buf, as
// Get describes: raw may point into the data file's memory map.
func itemOf(key, raw, buf []byte) (store.Item, error) {
	if raw == nil {
		return store.Item{}, store.ErrNotFound
	}
	r, err := decodeRecord(raw)
	if err != nil {
		return store.Item{}, err
	}
	buf = append(buf[:0], r.value...)
	buf = append(buf, r.contentType...)
	n := len(r.value)
	return store.Item{Key: key, Value: buf[:n], ContentType: buf[n:], Version: r.version}, nil
}

// List calls fn for each item selected by opts, in ascending byte order of
// keys, all from one consistent snapshot. It starts after opts.After (which
// need not exist), stops at the end of opts.Prefix, and stops after
// opts.Limit items when Limit is positive.
//
// The slices of the Item passed to fn point into the data file's memory
// map: they are valid only until fn returns, and fn must copy what it
// keeps. An error from fn stops the listing and is returned unchanged.
// fn must not call the Store at all: Close and writes wait for the
// listing to end, and so may a Get, which can need a read transaction of
// its own while a checkpoint waits for this listing's to end (bbolt grows
// its memory map only once no read transaction is open). Collect keys and
// act on them after List returns.
//
// Writes logged but not yet checkpointed into bbolt (at most 128 MiB;
// see Checkpoints and recovery in the package documentation) are merged
// in from memory, where they are kept in key order: a listing reads only
// those in its range, as it goes.
func (s *Store) List(ctx context.Context, opts store.ListOptions, fn func(store.Item) error) error {
	if err := s.ready(ctx); err != nil {
		return fail("list", err)
	}
	// The overlay's entries and the transaction are taken together, so
	// that no checkpoint moves entries from one to the other in between:
	// the checkpointer drops its memtable from the overlay only after
	// bbolt has committed it.
	s.ov.mu.RLock()
	v := s.ov.snapshot()
	tx, err := s.db.Begin(false)
	s.ov.mu.RUnlock()
	if err != nil {
		return fail("list", err)
	}
	defer tx.Rollback()
	var fnErr error
	err = s.list(ctx, tx, v, opts, func(it store.Item) error {
		if err := fn(it); err != nil {
			fnErr = err
			return err
		}
		return nil
	})
	if fnErr != nil {
		return fnErr
	}
	if err != nil {
		return fail("list", err)
	}
	return nil
}

// list walks tx's data bucket merged with the overlay's view ov, as List
// describes.
func (s *Store) list(ctx context.Context, tx *bolt.Tx, ov view, opts store.ListOptions, fn func(store.Item) error) error {
	c := tx.Bucket(dataBucket).Cursor()
	k, v := c.Seek(listStart(opts))
	if k != nil && bytes.Equal(k, opts.After) {
		k, v = c.Next()
	}
	inRange := func(k, v []byte) ([]byte, []byte) {
		if k == nil || !bytes.HasPrefix(k, opts.Prefix) {
			return nil, nil
		}
		return k, v
	}
	mc := mergeCursor{ov: newOvCursor(ov, opts.Prefix, opts.After), next: func() ([]byte, []byte) { return inRange(c.Next()) }}
	mc.k, mc.v = inRange(k, v)
	for n := 0; ; n++ {
		k, v := mc.item()
		if k == nil || (opts.Limit > 0 && n == opts.Limit) {
			return nil
		}
		if n%ctxCheckEvery == ctxCheckEvery-1 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		r, err := decodeRecord(v)
		if err != nil {
			return fmt.Errorf("key %q: %w", k, err)
		}
		if err := fn(store.Item{Key: k, Value: r.value, ContentType: r.contentType, Version: r.version}); err != nil {
			return err
		}
	}
}

// listStart returns the first key List may visit: the greater of the prefix
// and the cursor. After itself is skipped by the caller.
func listStart(opts store.ListOptions) []byte {
	if bytes.Compare(opts.After, opts.Prefix) > 0 {
		return opts.After
	}
	return opts.Prefix
}
