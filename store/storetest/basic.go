package storetest

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"kvhttp/api"
	"kvhttp/store"
)

func testGetAbsent(t *testing.T, s api.Store) {
	_, err := s.Get(t.Context(), []byte("absent"), nil)
	wantErr(t, "Get", err, store.ErrNotFound)
	_, err = s.Get(t.Context(), []byte("absent"), make([]byte, 0, 16))
	wantErr(t, "Get with a buffer", err, store.ErrNotFound)
}

// allBytes returns the bytes 0x00..0xff, n times over.
func allBytes(n int) string {
	var b []byte
	for range n {
		for c := range 256 {
			b = append(b, byte(c))
		}
	}
	return string(b)
}

func testRoundTrip(t *testing.T, s api.Store) {
	tests := []struct {
		name, key, value, contentType string
	}{
		{"plain", "greeting", "hello", "text/plain"},
		{"no content type", "bare", "value", ""},
		{"empty value", "empty", "", "text/plain"},
		{"empty value and content type", "nothing", "", ""},
		{"binary value", "bin", allBytes(3), "application/octet-stream"},
		{"binary key", allBytes(1), "v", ""},
		{"key with separators", "a/b:c\nd\r\n/", "v", ""},
		{"key with NUL", "\x00", "nul", ""},
		{"longest content type", "ct", "v", strings.Repeat("x", store.MaxContentTypeLen)},
		{"content type with parameters", "json", "{}", "application/json; charset=utf-8"},
		{"large value", "large", strings.Repeat("0123456789abcdef", 1<<16), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := mustPut(t, s, tt.key, tt.value, tt.contentType)
			if !res.Created {
				t.Errorf("Created: got %v; want %v", res.Created, true)
			}
			wantItem(t, mustGet(t, s, tt.key), tt.key, tt.value, tt.contentType, res.Version)
		})
	}
	// Later writes must not have disturbed earlier keys.
	for _, tt := range tests {
		wantItem(t, mustGet(t, s, tt.key), tt.key, tt.value, tt.contentType, 0)
	}
}

func testGetBuffer(t *testing.T, s api.Store) {
	ctx := t.Context()
	mustPut(t, s, "long", "hello, world", "text/plain")
	mustPut(t, s, "short", "hi", "")

	buf := make([]byte, 0, 64)
	full := buf[:cap(buf)]
	it, err := s.Get(ctx, []byte("long"), buf)
	if err != nil {
		t.Fatal(err)
	}
	wantItem(t, it, "long", "hello, world", "text/plain", 0)
	// The value is appended to buf[:0], the content type right after it.
	if &it.Value[0] != &full[0] {
		t.Errorf("Value aliases buf: got %v; want %v", false, true)
	}
	if &it.ContentType[0] != &full[len(it.Value)] {
		t.Errorf("ContentType follows Value in buf: got %v; want %v", false, true)
	}

	it, err = s.Get(ctx, []byte("short"), buf)
	if err != nil {
		t.Fatal(err)
	}
	wantItem(t, it, "short", "hi", "", 0)
	if &it.Value[0] != &full[0] {
		t.Errorf("second Value aliases buf: got %v; want %v", false, true)
	}

	tests := []struct {
		name string
		buf  []byte
	}{
		{"nil", nil},
		{"too small", make([]byte, 0, 3)},
		{"not empty", []byte("stale bytes that must not show up")},
	}
	for _, tt := range tests {
		it, err := s.Get(ctx, []byte("long"), tt.buf)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		wantItem(t, it, "long", "hello, world", "text/plain", 0)
	}
}

func testEmptyKey(t *testing.T, s api.Store) {
	for _, c := range calls(nil) {
		wantErr(t, c.name, c.do(t.Context(), s), store.ErrEmptyKey)
	}
	for _, c := range calls([]byte{}) {
		wantErr(t, c.name+" with []byte{}", c.do(t.Context(), s), store.ErrEmptyKey)
	}
	// The valid item in the PutAll batch must not have been written.
	wantAbsent(t, s, "ok")
}

func testContentTypeTooLong(t *testing.T, s api.Store) {
	ct := []byte(strings.Repeat("x", store.MaxContentTypeLen+1))
	for _, kind := range []store.CondKind{store.Always, store.IfAbsent} {
		_, err := s.Put(t.Context(), []byte("k"), []byte("v"), ct, store.Cond{Kind: kind})
		wantErr(t, "Put", err, store.ErrContentTypeTooLong)
	}
	err := s.PutAll(t.Context(), []store.Item{{Key: []byte("k"), Value: []byte("v"), ContentType: ct}})
	wantErr(t, "PutAll", err, store.ErrContentTypeTooLong)
	wantAbsent(t, s, "k")
}

func testCancelledContext(t *testing.T, s api.Store) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	for _, c := range calls([]byte("k")) {
		wantErr(t, c.name, c.do(ctx, s), context.Canceled)
	}
	err := s.List(ctx, store.ListOptions{}, func(store.Item) error { return nil })
	wantErr(t, "List", err, context.Canceled)
	wantAbsent(t, s, "k")
	wantAbsent(t, s, "ok")
}

func testClosed(t *testing.T, s api.Store) {
	mustPut(t, s, "k", "v", "")
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for _, c := range calls([]byte("k")) {
		wantErr(t, c.name, c.do(t.Context(), s), store.ErrClosed)
	}
	called := false
	err := s.List(t.Context(), store.ListOptions{}, func(store.Item) error {
		called = true
		return nil
	})
	wantErr(t, "List", err, store.ErrClosed)
	if called {
		t.Errorf("List called fn after Close: got %v; want %v", called, false)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: got %v; want %v", err, nil)
	}
}

// errStop is what List callbacks return to stop a listing.
var errStop = errors.New("storetest: stop")

// equalItems reports whether two items hold the same bytes and version.
func equalItems(a, b store.Item) bool {
	return bytes.Equal(a.Key, b.Key) && bytes.Equal(a.Value, b.Value) &&
		bytes.Equal(a.ContentType, b.ContentType) && a.Version == b.Version
}
