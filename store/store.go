// Package store defines the values and errors shared by kvhttp's storage
// backends: the embedded bbolt store (package boltstore) and, later, others.
//
// The interface a backend implements is owned by its user (package api);
// this package holds only what both sides must agree on. Every operation is
// atomic for a single key; nothing spans keys except PutAll, which a backend
// applies in one transaction where it can (see each backend's docs).
package store

import "errors"

// Errors returned by backends. Callers compare with errors.Is.
var (
	// ErrNotFound: the key does not exist.
	ErrNotFound = errors.New("store: key not found")
	// ErrExists: a create-only write found the key present.
	ErrExists = errors.New("store: key already exists")
	// ErrVersionMismatch: a compare-and-swap found another version.
	ErrVersionMismatch = errors.New("store: version mismatch")
	// ErrInvalidCond: a condition the operation cannot take (Delete IfAbsent).
	ErrInvalidCond = errors.New("store: invalid condition for this operation")
	// ErrEmptyKey: keys must be at least one byte long.
	ErrEmptyKey = errors.New("store: empty key")
	// ErrContentTypeTooLong: content types are stored in at most 255 bytes.
	ErrContentTypeTooLong = errors.New("store: content type longer than 255 bytes")
	// ErrBusy: too many writes are waiting; try again later.
	ErrBusy = errors.New("store: too many writes waiting")
	// ErrClosed: the store was closed.
	ErrClosed = errors.New("store: closed")
	// ErrLocked: another process, or another open store, holds the data file.
	ErrLocked = errors.New("store: data file is locked by another holder")
	// ErrCorrupt: the data file cannot be read as a store.
	ErrCorrupt = errors.New("store: data file is corrupt or not a kvhttp store")
)

// MaxContentTypeLen is the longest content type a backend stores.
const MaxContentTypeLen = 255

// Item is one stored pair with its metadata.
//
// Slices in an Item returned by Get alias the caller's buffer; slices in an
// Item passed to a List callback are valid only during that call.
type Item struct {
	Key         []byte
	Value       []byte
	ContentType []byte // empty when none was given
	// Version identifies this write of the key: it changes on every write and
	// a backend never gives the same key the same version twice, even after a
	// delete, so it can serve as a strong ETag and for compare-and-swap.
	// Version 0 is never issued.
	Version uint64
}

// CondKind selects the precondition of a write.
type CondKind uint8

// Preconditions for Put and Delete.
const (
	Always    CondKind = iota // write unconditionally
	IfAbsent                  // create only: ErrExists if the key is present
	IfPresent                 // update only: ErrNotFound if the key is absent
	IfVersion                 // compare-and-swap: ErrNotFound if absent, ErrVersionMismatch if Version differs
)

// Cond is the precondition of a write, checked atomically with it.
type Cond struct {
	Kind    CondKind
	Version uint64 // for IfVersion
}

// Result describes an applied write.
type Result struct {
	Version uint64 // the version now stored
	Created bool   // the key did not exist before
}

// ListOptions select a range of keys in byte order.
type ListOptions struct {
	Prefix []byte // only keys that start with Prefix
	After  []byte // only keys strictly greater than After (a cursor)
	Limit  int    // at most Limit items; 0 or less means no limit
}

// CheckKey rejects what no backend stores: an empty key
// (ErrEmptyKey) or a content type over MaxContentTypeLen
// (ErrContentTypeTooLong).
func CheckKey(key, contentType []byte) error {
	if len(key) == 0 {
		return ErrEmptyKey
	}
	if len(contentType) > MaxContentTypeLen {
		return ErrContentTypeTooLong
	}
	return nil
}
