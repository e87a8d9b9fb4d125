package api

import (
	"context"

	"kvhttp/store"
)

// Store is what the API needs from a storage backend. Every method is atomic
// for one key and durable when it returns nil: the API acknowledges a write
// only after its Store call returns.
//
// The contract, checked for every backend by package storetest:
//   - Get stores the value, then the content type, in buf[:0] (growing it
//     if needed; buf may be nil) and returns an Item whose Value and
//     ContentType alias that memory; ErrNotFound if absent. A caller that
//     reuses one buffer allocates nothing once it is large enough.
//   - Put writes value under key if cond holds, atomically with the check;
//     it fails with ErrExists, ErrNotFound or ErrVersionMismatch otherwise.
//   - Delete removes key if cond holds; ErrNotFound if it is absent;
//     ErrInvalidCond for IfAbsent.
//   - List calls fn for each matching item in ascending byte order of keys;
//     an error from fn stops the listing and is returned. fn must not call
//     the store (bbolt: it may wait for the listing to end).
//   - PutAll writes every item unconditionally (their Version is ignored),
//     all or nothing where the backend can (bbolt: one transaction).
//   - Close releases the store; later calls return ErrClosed.
type Store interface {
	Get(ctx context.Context, key, buf []byte) (store.Item, error)
	Put(ctx context.Context, key, value, contentType []byte, cond store.Cond) (store.Result, error)
	Delete(ctx context.Context, key []byte, cond store.Cond) error
	List(ctx context.Context, opts store.ListOptions, fn func(store.Item) error) error
	PutAll(ctx context.Context, items []store.Item) error
	Close() error
}
