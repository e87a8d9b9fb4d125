//go:build linux && (amd64 || arm64 || loong64 || mips64 || mips64le || ppc64 || ppc64le || riscv64 || s390x)

package boltstore

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"kvhttp/store"
)

// newTestAIO returns an aioSyncer released when the test ends. The
// kernels kvhttp runs on (Linux 4.18 on) have asynchronous fdatasync: a
// nil here means the store would fall back to fdatasync, which is a
// finding, not a reason to skip.
func newTestAIO(t *testing.T) *aioSyncer {
	t.Helper()
	a := newAIOSyncer()
	if a == nil {
		t.Fatal("newAIOSyncer: got nil; want the kernel's asynchronous I/O")
	}
	t.Cleanup(func() {
		if err := a.Close(); err != nil {
			t.Errorf("Close: got %v; want nil", err)
		}
	})
	return a
}

// TestAIOSync syncs a file several times through one aioSyncer, each
// completion matched to its own submission, and reads back what
// writeFrameAt wrote.
func TestAIOSync(t *testing.T) {
	a := newTestAIO(t)
	f, err := os.Create(filepath.Join(t.TempDir(), "f"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var want []byte
	for i := range 5 {
		frame := bytes.Repeat([]byte{'a' + byte(i)}, 1000+i)
		if err := writeFrameAt(f, frame, int64(len(want))); err != nil {
			t.Fatalf("writeFrameAt %d: got %v; want nil", i, err)
		}
		want = append(want, frame...)
		if err := a.fdatasync(f); err != nil {
			t.Fatalf("fdatasync %d: got %v; want nil", i, err)
		}
	}
	if a.seq != 5 || a.refused {
		t.Errorf("after 5 syncs: got seq %d, refused %v; want 5, false", a.seq, a.refused)
	}
	got, err := os.ReadFile(f.Name())
	if err != nil || !bytes.Equal(got, want) {
		t.Errorf("file: got %d bytes, %v; want the %d bytes written", len(got), err, len(want))
	}
}

// TestAIOSyncErrors: a descriptor the kernel cannot sync asynchronously
// (a pipe has no fsync) makes the syncer fall back to fdatasync for good,
// and fdatasync's own error comes back; a closed file's error comes back
// too.
func TestAIOSyncErrors(t *testing.T) {
	a := newTestAIO(t)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if err := a.fdatasync(w); !errors.Is(err, unix.EINVAL) {
		t.Errorf("fdatasync of a pipe: got %v; want %v", err, unix.EINVAL)
	}
	if !a.refused {
		t.Error("after a refused submission: got refused false; want true")
	}

	b := newTestAIO(t)
	f, err := os.Create(filepath.Join(t.TempDir(), "f"))
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := b.fdatasync(f); err == nil {
		t.Error("fdatasync of a closed file: got nil; want an error")
	}
	if err := writeFrameAt(f, []byte("x"), 0); err == nil {
		t.Error("writeFrameAt to a closed file: got nil; want an error")
	}
}

// TestStoreUsesAIO: on Linux the store's log syncs go through the
// asynchronous path, and Close releases it.
func TestStoreUsesAIO(t *testing.T) {
	s := reopen(t, t.TempDir())
	if s.aio == nil {
		t.Fatal("Store.aio: got nil; want the asynchronous fdatasync")
	}
	if _, err := s.Put(t.Context(), []byte("k"), []byte("v"), nil, store.Cond{}); err != nil {
		t.Fatal(err)
	}
	if s.aio.seq == 0 {
		t.Error("after a Put: got no asynchronous sync; want one")
	}
}
