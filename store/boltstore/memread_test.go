package boltstore

import (
	"errors"
	"testing"

	"kvhttp/store"
)

// TestGetInMemory: GetInMemory answers as Get does for the keys whose
// last write is in memory (a value, or a delete: not found), and declines
// the keys only the data file can answer: never written, or checkpointed
// (here by Close) since their last write.
func TestGetInMemory(t *testing.T) {
	dir := t.TempDir()
	s := reopen(t, dir)
	mustPutValue(t, s, "old", []byte("in the data file"))
	mustPutValue(t, s, "gone", []byte("x"))
	if err := s.Close(); err != nil { // writes the overlay into bbolt
		t.Fatal(err)
	}
	s = reopen(t, dir)
	ctx := t.Context()
	if _, err := s.Put(ctx, []byte("typed"), []byte("v"), []byte("text/plain"), store.Cond{}); err != nil {
		t.Fatal(err)
	}
	mustPutValue(t, s, "empty", nil)
	if err := s.Delete(ctx, []byte("gone"), store.Cond{}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		key  string
		ok   bool
		want error // Get's, when ok
	}{
		{"typed", true, nil},
		{"empty", true, nil},
		{"gone", true, store.ErrNotFound},
		{"old", false, nil},
		{"never", false, nil},
		{"", false, nil},
	}
	for _, tt := range tests {
		it, ok, err := s.GetInMemory([]byte(tt.key), make([]byte, 0, 4))
		if ok != tt.ok {
			t.Errorf("GetInMemory(%q): got ok %v; want %v", tt.key, ok, tt.ok)
			continue
		}
		if !ok {
			if err != nil || it.Value != nil || it.Version != 0 {
				t.Errorf("GetInMemory(%q) declined: got %+v, %v; want a zero Item and nil", tt.key, it, err)
			}
			continue
		}
		want, werr := s.Get(ctx, []byte(tt.key), nil)
		if !errors.Is(err, tt.want) || !errors.Is(werr, tt.want) {
			t.Errorf("GetInMemory(%q): got %v (Get: %v); want %v", tt.key, err, werr, tt.want)
		}
		if string(it.Key) != string(want.Key) || string(it.Value) != string(want.Value) ||
			string(it.ContentType) != string(want.ContentType) || it.Version != want.Version {
			t.Errorf("GetInMemory(%q): got %q %q v%d; want Get's %q %q v%d", tt.key, it.Value, it.ContentType, it.Version, want.Value, want.ContentType, want.Version)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := s.GetInMemory([]byte("typed"), nil); ok || err != nil {
		t.Errorf("GetInMemory after Close: got ok %v, %v; want false, nil (Get reports the closed store)", ok, err)
	}
}
