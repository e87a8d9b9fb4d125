package boltstore

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"

	"kvhttp/store"
)

// editFile changes the data file in dir with bbolt directly.
func editFile(t *testing.T, dir string, edit func(*bolt.Tx) error) {
	t.Helper()
	db, err := bolt.Open(filepath.Join(dir, FileName), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(edit); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestOpenChecksMarker(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(*bolt.Tx) error
		corrupt bool
	}{
		{"no buckets", func(*bolt.Tx) error { return nil }, false},
		{"foreign bucket", func(tx *bolt.Tx) error {
			_, err := tx.CreateBucket([]byte("other"))
			return err
		}, true},
		{"data bucket without marker", func(tx *bolt.Tx) error {
			_, err := tx.CreateBucket(dataBucket)
			return err
		}, true},
		{"unknown format", func(tx *bolt.Tx) error {
			return markStore(tx, []byte{storeFormat + 1}, true)
		}, true},
		{"empty marker", func(tx *bolt.Tx) error {
			return markStore(tx, []byte{}, true)
		}, true},
		{"marker without data bucket", func(tx *bolt.Tx) error {
			return markStore(tx, []byte{storeFormat}, false)
		}, true},
		{"valid store", func(tx *bolt.Tx) error {
			return markStore(tx, []byte{storeFormat}, true)
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			editFile(t, dir, tt.edit)
			path := filepath.Join(dir, FileName)
			before, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			s, err := Open(dir, nil)
			if !tt.corrupt {
				if err != nil {
					t.Fatalf("Open: got %v; want %v", err, nil)
				}
				if err := s.Close(); err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				s.Close()
			}
			if !errors.Is(err, store.ErrCorrupt) {
				t.Fatalf("Open: got %v; want %v", err, store.ErrCorrupt)
			}
			after, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(after, before) {
				t.Errorf("file after a refused Open: got changed bytes; want them unchanged")
			}
		})
	}
}

// markStore writes the store's marker with the given format bytes and,
// if data is set, the data bucket.
func markStore(tx *bolt.Tx, format []byte, data bool) error {
	meta, err := tx.CreateBucket(metaBucket)
	if err != nil {
		return err
	}
	if err := meta.Put(formatKey, format); err != nil {
		return err
	}
	if data {
		_, err = tx.CreateBucket(dataBucket)
	}
	return err
}

func TestCorruptRecord(t *testing.T) {
	tests := []struct {
		name string
		rec  []byte
	}{
		{"unknown format", []byte{2, 0, 0, 0, 0, 0, 0, 0, 1, 0, 'v'}},
		{"short", []byte{recordFormat, 0, 0}},
		{"content type past the end", []byte{recordFormat, 0, 0, 0, 0, 0, 0, 0, 1, 5, 'a'}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			s, err := Open(dir, nil)
			if err != nil {
				t.Fatal(err)
			}
			s.Close()
			editFile(t, dir, func(tx *bolt.Tx) error {
				return tx.Bucket(dataBucket).Put([]byte("k"), tt.rec)
			})
			s, err = Open(dir, nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })

			ctx := t.Context()
			_, err = s.Get(ctx, []byte("k"), nil)
			wantCorrupt(t, "Get", err)
			err = s.List(ctx, store.ListOptions{}, func(store.Item) error { return nil })
			wantCorrupt(t, "List", err)
			_, err = s.Put(ctx, []byte("k"), []byte("v"), nil, store.Cond{Kind: store.IfVersion, Version: 1})
			wantCorrupt(t, "Put IfVersion", err)
			err = s.Delete(ctx, []byte("k"), store.Cond{Kind: store.IfVersion, Version: 1})
			wantCorrupt(t, "Delete IfVersion", err)
		})
	}
}

func wantCorrupt(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, store.ErrCorrupt) {
		t.Errorf("%s: got %v; want %v", what, err, store.ErrCorrupt)
	}
}

func TestRecordRoundTrip(t *testing.T) {
	tests := []struct {
		name               string
		version            uint64
		contentType, value string
	}{
		{"empty", 1, "", ""},
		{"value", 2, "", "hello"},
		{"content type", 1 << 40, "text/plain", "hello"},
		{"longest content type", 1<<64 - 1, string(bytes.Repeat([]byte{'x'}, 255)), "\x00\xff"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := appendRecord(nil, 0, []byte(tt.contentType), []byte(tt.value))
			if len(b) != recordLen([]byte(tt.contentType), []byte(tt.value)) {
				t.Errorf("length: got %v; want %v", len(b), recordLen([]byte(tt.contentType), []byte(tt.value)))
			}
			setRecordVersion(b, tt.version)
			r, err := decodeRecord(b)
			if err != nil {
				t.Fatal(err)
			}
			if r.version != tt.version || string(r.contentType) != tt.contentType || string(r.value) != tt.value {
				t.Errorf("decoded: got %d %q %q; want %d %q %q", r.version, r.contentType, r.value, tt.version, tt.contentType, tt.value)
			}
		})
	}
}

// TestSyncedCommits guards the durability promise: a write returns only
// after bbolt has fsynced its commit, which NoSync would skip.
func TestSyncedCommits(t *testing.T) {
	s, err := Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.db.NoSync {
		t.Errorf("NoSync: got %v; want %v", s.db.NoSync, false)
	}
}
