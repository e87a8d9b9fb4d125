// Package storetest checks that a storage backend keeps the api.Store
// contract. Every backend runs the same suite, so the API can rely on the
// contract rather than on one backend's habits:
//
//	func TestStore(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) api.Store {
//			s, err := mybackend.Open(t.TempDir())
//			if err != nil {
//				t.Fatal(err)
//			}
//			t.Cleanup(func() { s.Close() })
//			return s
//		})
//	}
//
// The suite makes a few thousand writes, most of them in PutAll batches,
// so that it stays fast on backends that sync every commit to disk.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"kvhttp/api"
	"kvhttp/store"
)

// Run runs the suite. open must return a new, empty store for each
// subtest; the caller registers its cleanup. The suite closes some stores
// itself, so cleanup must tolerate a second Close.
func Run(t *testing.T, open func(t *testing.T) api.Store) {
	t.Helper()
	tests := []struct {
		name string
		test func(*testing.T, api.Store)
	}{
		{"GetAbsent", testGetAbsent},
		{"RoundTrip", testRoundTrip},
		{"GetBuffer", testGetBuffer},
		{"EmptyKey", testEmptyKey},
		{"ContentTypeTooLong", testContentTypeTooLong},
		{"PutCond", testPutCond},
		{"DeleteCond", testDeleteCond},
		{"Versions", testVersions},
		{"ListOrder", testListOrder},
		{"ListOptions", testListOptions},
		{"ListPaging", testListPaging},
		{"ListFnError", testListFnError},
		{"ListItemsValidDuringFn", testListItemsValidDuringFn},
		{"PutAll", testPutAll},
		{"PutAllInvalid", testPutAllInvalid},
		{"CancelledContext", testCancelledContext},
		{"Closed", testClosed},
		{"ConcurrentCreate", testConcurrentCreate},
		{"ConcurrentCompareAndSwap", testConcurrentCompareAndSwap},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.test(t, open(t))
		})
	}
}

// call is one method call with fixed arguments, for tests that check every
// method the same way.
type call struct {
	name string
	do   func(context.Context, api.Store) error
}

// calls returns a call of every method with key, covering each condition.
func calls(key []byte) []call {
	put := func(kind store.CondKind) func(context.Context, api.Store) error {
		return func(ctx context.Context, s api.Store) error {
			_, err := s.Put(ctx, key, []byte("v"), nil, store.Cond{Kind: kind, Version: 1})
			return err
		}
	}
	del := func(kind store.CondKind) func(context.Context, api.Store) error {
		return func(ctx context.Context, s api.Store) error {
			return s.Delete(ctx, key, store.Cond{Kind: kind, Version: 1})
		}
	}
	return []call{
		{"Get", func(ctx context.Context, s api.Store) error {
			_, err := s.Get(ctx, key, nil)
			return err
		}},
		{"Put/Always", put(store.Always)},
		{"Put/IfAbsent", put(store.IfAbsent)},
		{"Put/IfPresent", put(store.IfPresent)},
		{"Put/IfVersion", put(store.IfVersion)},
		{"Delete/Always", del(store.Always)},
		{"Delete/IfPresent", del(store.IfPresent)},
		{"Delete/IfVersion", del(store.IfVersion)},
		{"PutAll", func(ctx context.Context, s api.Store) error {
			return s.PutAll(ctx, []store.Item{{Key: []byte("ok"), Value: []byte("v")}, {Key: key, Value: []byte("v")}})
		}},
	}
}

// mustPut stores value under key unconditionally.
func mustPut(t *testing.T, s api.Store, key, value, contentType string) store.Result {
	t.Helper()
	res, err := s.Put(t.Context(), []byte(key), []byte(value), []byte(contentType), store.Cond{})
	if err != nil {
		t.Fatalf("Put(%q): %v", key, err)
	}
	return res
}

// mustPutAll stores items unconditionally.
func mustPutAll(t *testing.T, s api.Store, items []store.Item) {
	t.Helper()
	if err := s.PutAll(t.Context(), items); err != nil {
		t.Fatalf("PutAll(%d items): %v", len(items), err)
	}
}

// mustGet returns the item under key, copied out of the store's buffer.
func mustGet(t *testing.T, s api.Store, key string) store.Item {
	t.Helper()
	it, err := s.Get(t.Context(), []byte(key), nil)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	return it
}

// wantAbsent fails unless Get reports key as not found.
func wantAbsent(t *testing.T, s api.Store, key string) {
	t.Helper()
	if it, err := s.Get(t.Context(), []byte(key), nil); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Get(%q) = %q, %v; want %v", key, it.Value, err, store.ErrNotFound)
	}
}

// wantItem fails unless got holds key, value, contentType and, when
// version is not zero, version.
func wantItem(t *testing.T, got store.Item, key, value, contentType string, version uint64) {
	t.Helper()
	if !bytes.Equal(got.Key, []byte(key)) {
		t.Errorf("Key: got %q; want %q", got.Key, key)
	}
	if !bytes.Equal(got.Value, []byte(value)) {
		t.Errorf("Value of %q: got %q; want %q", key, got.Value, value)
	}
	if !bytes.Equal(got.ContentType, []byte(contentType)) {
		t.Errorf("ContentType of %q: got %q; want %q", key, got.ContentType, contentType)
	}
	if version != 0 && got.Version != version {
		t.Errorf("Version of %q: got %v; want %v", key, got.Version, version)
	}
}

// wantErr fails unless errors.Is(err, want), which for a nil want means
// that err is nil.
func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Errorf("%s: got %v; want %v", what, err, want)
	}
}
