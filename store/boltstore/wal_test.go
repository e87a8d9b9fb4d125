package boltstore

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"kvhttp/store"
)

// waitCheckpointed waits until the overlay is empty: every logged write
// is in bbolt.
func waitCheckpointed(t *testing.T, s *Store) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for s.ov.n.Load() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("overlay: got %d entries 10 s on; want 0", s.ov.n.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// testCheckpointEvery is the checkpoint period of the tests that wait for
// checkpoints: short enough to wait for, long enough that none comes
// between two steps of a test.
const testCheckpointEvery = time.Second

// openCheckpointing opens the store in dir with testCheckpointEvery and
// closes it when the test ends.
func openCheckpointing(t *testing.T, dir string) *Store {
	t.Helper()
	s, err := Open(dir, &Options{CheckpointEvery: testCheckpointEvery})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// segments lists the log segments in dir.
func segments(t *testing.T, dir string) []walFile {
	t.Helper()
	segs, err := listSegments(dir)
	if err != nil {
		t.Fatal(err)
	}
	return segs
}

// TestCheckpointEveryOption: Options.CheckpointEvery sets the period;
// zero leaves the default. (How soon a checkpoint then comes is timing,
// which the crash test exercises, not this test; a short period's
// checkpoint is waited for.)
func TestCheckpointEveryOption(t *testing.T) {
	for _, tc := range []struct{ give, want time.Duration }{{0, DefaultCheckpointEvery}, {20 * time.Millisecond, 20 * time.Millisecond}} {
		s, err := Open(t.TempDir(), &Options{CheckpointEvery: tc.give})
		if err != nil {
			t.Fatal(err)
		}
		if s.ckptEvery != tc.want {
			t.Errorf("CheckpointEvery %v: got period %v; want %v", tc.give, s.ckptEvery, tc.want)
		}
		if _, err := s.Put(t.Context(), []byte("k"), []byte("v"), nil, store.Cond{}); err != nil {
			t.Fatal(err)
		}
		if tc.give > 0 {
			waitCheckpointed(t, s)
		}
		s.Close()
	}
}

// TestCheckpointOnLogSize: a key written over and over keeps the
// memtable small but grows the log, and the log's size alone brings a
// checkpoint long before the period is up.
func TestCheckpointOnLogSize(t *testing.T) {
	s, err := Open(t.TempDir(), &Options{CheckpointEvery: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	s.ckptLogBytes = 4 << 10 // read by the committer after the first Put
	ctx := t.Context()
	value := bytes.Repeat([]byte("v"), 100)
	for range 100 { // well over 4 KiB of log
		if _, err := s.Put(ctx, []byte("k"), value, nil, store.Cond{}); err != nil {
			t.Fatal(err)
		}
	}
	inBolt := func() (found bool) {
		err := s.db.View(func(tx *bolt.Tx) error {
			found = tx.Bucket(dataBucket).Get([]byte("k")) != nil
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return found
	}
	for deadline := time.Now().Add(10 * time.Second); !inBolt(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the key is not in bbolt 10 s after 10 KiB of log; want a checkpoint at 4 KiB")
		}
	}
}

// TestCheckpoint checks that logged writes reach bbolt, version counter
// and all, and that their segments then go.
func TestCheckpoint(t *testing.T) {
	dir := t.TempDir()
	s := openCheckpointing(t, dir)
	ctx := t.Context()
	res, err := s.Put(ctx, []byte("k"), []byte("v"), []byte("text/plain"), store.Cond{})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(segments(t, dir)); n != 1 {
		t.Errorf("segments after a write: got %d; want 1", n)
	}
	waitCheckpointed(t, s)
	err = s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(dataBucket)
		r, err := decodeRecord(b.Get([]byte("k")))
		if err != nil {
			return err
		}
		if r.version != res.Version || string(r.value) != "v" || b.Sequence() != res.Version {
			t.Errorf("bbolt after checkpoint: got v%d %q seq %d; want v%d %q seq %d", r.version, r.value, b.Sequence(), res.Version, "v", res.Version)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// The checkpoint drops its writes from the overlay first, then lets
	// go of their segment: wait for that too.
	deadline := time.Now().Add(10 * time.Second)
	for segs := segments(t, dir); len(segs) != 0; segs = segments(t, dir) {
		if time.Now().After(deadline) {
			t.Fatalf("segments 10 s after checkpoint: got %v; want none", segs)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestCheckpointFails makes every checkpoint fail: writes are still
// acknowledged and read back (they are in the log), Close reports the
// failure, and the next Open puts them in bbolt from the log.
func TestCheckpointFails(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, &Options{CheckpointEvery: testCheckpointEvery})
	if err != nil {
		t.Fatal(err)
	}
	s.commitTx = func(func(*bolt.Tx) error) error { return errInjected }
	ctx := t.Context()
	var last store.Result
	for i := range 3 {
		if last, err = s.Put(ctx, []byte("k"), fmt.Appendf(nil, "v%d", i), nil, store.Cond{}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(testCheckpointEvery) // let checkpoints fail in between
	}
	if it, err := s.Get(ctx, []byte("k"), nil); err != nil || string(it.Value) != "v2" {
		t.Errorf("Get: got %q, %v; want %q, nil", it.Value, err, "v2")
	}
	if err := s.Close(); !errors.Is(err, errInjected) {
		t.Errorf("Close: got %v; want %v", err, errInjected)
	}
	if len(segments(t, dir)) == 0 {
		t.Fatal("the log is gone although no checkpoint succeeded")
	}
	s2 := reopen(t, dir)
	if it, err := s2.Get(ctx, []byte("k"), nil); err != nil || string(it.Value) != "v2" || it.Version != last.Version {
		t.Errorf("Get after reopen: got %q v%d, %v; want %q v%d, nil", it.Value, it.Version, err, "v2", last.Version)
	}
	if segs := segments(t, dir); len(segs) != 0 {
		t.Errorf("segments after recovery: got %v; want none", segs)
	}
	// Versions go on from the log's counter.
	if res, err := s2.Put(ctx, []byte("other"), nil, nil, store.Cond{}); err != nil || res.Version <= last.Version {
		t.Errorf("Put after reopen: got v%d, %v; want above v%d", res.Version, err, last.Version)
	}
}

// emptyStore makes a store in a new folder and closes it, for a test to
// put log segments beside its data file by hand.
func emptyStore(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := reopen(t, dir).Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

// writeSegment writes generation gen's segment to dir by hand: a header
// and one frame per batch, an end frame if end is true, then tail.
func writeSegment(t *testing.T, dir string, gen uint64, batches []map[string]string, end bool, tail []byte) string {
	t.Helper()
	b := append([]byte(walMagic), make([]byte, 8)...)
	b[len(walMagic)+7] = byte(gen)
	var seq uint64
	for _, batch := range batches {
		mt := newMemtable(gen)
		for k, v := range batch {
			if v == "" {
				mt.set([]byte(k), nil)
				continue
			}
			seq++
			mt.set([]byte(k), appendRecord(nil, seq, nil, []byte(v)))
		}
		b = appendFrame(b, gen, seq, mt)
	}
	if end {
		b = appendEndFrame(b, gen, seq)
	}
	b = append(b, tail...)
	path := filepath.Join(dir, walName(gen))
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestRecover replays hand-made segments: what follows the last frame of
// the newest segment (a torn frame, a frame left from the file's former
// use, zeros) is ignored, deletes apply, later generations win, and every
// segment goes.
func TestRecover(t *testing.T) {
	z := func(gen uint64) []byte {
		mt := newMemtable(gen)
		mt.set([]byte("z"), appendRecord(nil, 9, nil, []byte("z")))
		return appendFrame(nil, gen, 9, mt)
	}
	tests := []struct {
		name string
		tail []byte
	}{
		{"torn frame", z(2)[:len(z(2))-3]},
		{"stale frame", z(1)},
		{"zeros", make([]byte, 4096)},
		{"nothing", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := emptyStore(t)
			writeSegment(t, dir, 1, []map[string]string{{"a": "a1", "b": "b1"}, {"b": ""}}, true, nil)
			writeSegment(t, dir, 2, []map[string]string{{"a": "a2", "c": "c2"}}, false, tt.tail)

			s2 := reopen(t, dir)
			ctx := t.Context()
			for key, want := range map[string]string{"a": "a2", "c": "c2"} {
				if it, err := s2.Get(ctx, []byte(key), nil); err != nil || string(it.Value) != want {
					t.Errorf("Get(%q): got %q, %v; want %q, nil", key, it.Value, err, want)
				}
			}
			for _, key := range []string{"b", "z"} {
				if _, err := s2.Get(ctx, []byte(key), nil); !errors.Is(err, store.ErrNotFound) {
					t.Errorf("Get(%q): got %v; want %v", key, err, store.ErrNotFound)
				}
			}
			if segs := segments(t, dir); len(segs) != 0 {
				t.Errorf("segments after recovery: got %v; want none", segs)
			}
		})
	}
}

// TestRecoverRefusesDamage checks that a damaged segment that is not the
// last (so was complete when written) makes Open fail with ErrCorrupt
// and leaves every file as it was.
func TestRecoverRefusesDamage(t *testing.T) {
	tests := []struct {
		name   string
		damage func([]byte) []byte
	}{
		{"flipped bit", func(b []byte) []byte { b[len(b)-2] ^= 1; return b }},
		{"cut short", func(b []byte) []byte { return b[:len(b)-1] }},
		{"no end frame", func(b []byte) []byte {
			end := appendEndFrame(nil, 1, 1)
			return b[:len(b)-len(end)]
		}},
		{"foreign header", func(b []byte) []byte { copy(b, "NOTAWAL!"); return b }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := emptyStore(t)
			p1 := writeSegment(t, dir, 1, []map[string]string{{"a": "a1"}}, true, nil)
			writeSegment(t, dir, 2, []map[string]string{{"b": "b2"}}, false, nil)
			b, err := os.ReadFile(p1)
			if err != nil {
				t.Fatal(err)
			}
			damaged := tt.damage(b)
			if err := os.WriteFile(p1, damaged, 0o600); err != nil {
				t.Fatal(err)
			}
			db, err := os.ReadFile(filepath.Join(dir, FileName))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := Open(dir, nil); !errors.Is(err, store.ErrCorrupt) {
				t.Fatalf("Open: got %v; want %v", err, store.ErrCorrupt)
			}
			if got, _ := os.ReadFile(p1); !bytes.Equal(got, damaged) {
				t.Error("Open changed the damaged segment")
			}
			if got, _ := os.ReadFile(filepath.Join(dir, FileName)); !bytes.Equal(got, db) {
				t.Error("Open changed the data file")
			}
			if n := len(segments(t, dir)); n != 2 {
				t.Errorf("segments: got %d; want 2", n)
			}
		})
	}
}

// TestRecoverDamageInNewest: in the newest segment, a bad frame with a
// whole frame of its generation after it was damaged, not torn by a crash
// (the frame after it was written later): Open refuses with ErrCorrupt
// and leaves the files as they were. A bad last frame is a torn write:
// the frames before it are recovered.
func TestRecoverDamageInNewest(t *testing.T) {
	tests := []struct {
		name    string
		flip    func(b []byte, first int) int // returns the offset to flip
		corrupt bool
	}{
		{"first of two frames", func(b []byte, first int) int { return first + frameHeader + minPayload + 2 }, true},
		{"last frame", func(b []byte, first int) int { return len(b) - 2 }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := emptyStore(t)
			p := writeSegment(t, dir, 1, []map[string]string{{"a": "a1"}, {"b": "b1"}}, false, nil)
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			b[tt.flip(b, walHeaderLen)] ^= 1
			if err := os.WriteFile(p, b, 0o600); err != nil {
				t.Fatal(err)
			}
			s, err := Open(dir, nil)
			if !tt.corrupt {
				if err != nil {
					t.Fatal(err)
				}
				defer s.Close()
				if it, err := s.Get(t.Context(), []byte("a"), nil); err != nil || string(it.Value) != "a1" {
					t.Errorf("Get(%q): got %q, %v; want %q", "a", it.Value, err, "a1")
				}
				return
			}
			if !errors.Is(err, store.ErrCorrupt) {
				t.Fatalf("Open: got %v; want %v", err, store.ErrCorrupt)
			}
			if got, _ := os.ReadFile(p); !bytes.Equal(got, b) {
				t.Error("Open changed the damaged segment")
			}
		})
	}
}

// TestListMergesOverlay lists keys some of which bbolt holds and the log
// has since overwritten or deleted, and some only the log holds.
func TestListMergesOverlay(t *testing.T) {
	s := openCheckpointing(t, t.TempDir())
	ctx := t.Context()
	var items []store.Item
	for _, k := range []string{"a", "b", "c", "d", "e"} {
		items = append(items, store.Item{Key: []byte(k), Value: []byte(k + "0")})
	}
	if err := s.PutAll(ctx, items); err != nil {
		t.Fatal(err)
	}
	waitCheckpointed(t, s)
	if err := s.Delete(ctx, []byte("b"), store.Cond{}); err != nil {
		t.Fatal(err)
	}
	for _, kv := range [][2]string{{"c", "c1"}, {"bb", "bb1"}, {"f", "f1"}, {"0", "01"}} {
		if _, err := s.Put(ctx, []byte(kv[0]), []byte(kv[1]), nil, store.Cond{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Delete(ctx, []byte("f"), store.Cond{}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		opts store.ListOptions
		want string
	}{
		{store.ListOptions{}, "0=01 a=a0 bb=bb1 c=c1 d=d0 e=e0"},
		{store.ListOptions{Prefix: []byte("b")}, "bb=bb1"},
		{store.ListOptions{After: []byte("a"), Limit: 2}, "bb=bb1 c=c1"},
		{store.ListOptions{After: []byte("bb"), Limit: 2}, "c=c1 d=d0"},
		{store.ListOptions{After: []byte("e")}, ""},
	}
	for _, tt := range tests {
		var got []string
		err := s.List(ctx, tt.opts, func(it store.Item) error {
			got = append(got, string(it.Key)+"="+string(it.Value))
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if g := fmt.Sprint(got); g != "["+tt.want+"]" {
			t.Errorf("List(%+v): got %s; want [%s]", tt.opts, g, tt.want)
		}
	}
}

// TestSegmentGrows: a segment made without a spare grows growStep of zeros
// at a time ahead of its frames, so that most syncs overwrite blocks the
// file has; a failed sync cuts it back to its last frame.
func TestSegmentGrows(t *testing.T) {
	dir := t.TempDir()
	sg, err := createSegment(dir, 1, "")
	if err != nil {
		t.Fatal(err)
	}
	defer sg.f.Close()
	mt := newMemtable(1)
	mt.set([]byte("k"), appendRecord(nil, 1, nil, make([]byte, 100<<10)))
	frame := appendFrame(nil, 1, 1, mt)
	fileSize := func() int64 {
		fi, err := sg.f.Stat()
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	for i := range 15 { // about 1.5 MiB of frames
		if err := sg.append(frame, fdatasync); err != nil {
			t.Fatal(err)
		}
		want := (sg.off + growStep - 1) / growStep * growStep
		if got := fileSize(); got != want || sg.size != want {
			t.Fatalf("after frame %d (log end %d): got file size %d (tracked %d); want %d", i+1, sg.off, got, sg.size, want)
		}
	}
	end := sg.off
	if err := sg.append(frame, func(*os.File) error { return errInjected }); !errors.Is(err, errInjected) {
		t.Fatalf("append with a failing sync: got %v; want %v", err, errInjected)
	}
	if got := fileSize(); got != end || sg.size != end {
		t.Errorf("after the cut: got file size %d (tracked %d); want %d", got, sg.size, end)
	}
}

// TestSegmentsRecycled checks that a checkpointed segment's file becomes
// the next segment, extended to spareMinSize, and that Close leaves the
// data file alone in the folder.
func TestSegmentsRecycled(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, &Options{CheckpointEvery: testCheckpointEvery})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	put := func(k string) {
		t.Helper()
		if _, err := s.Put(ctx, []byte(k), []byte(k), nil, store.Cond{}); err != nil {
			t.Fatal(err)
		}
	}
	put("a")
	waitCheckpointed(t, s)
	for deadline := time.Now().Add(10 * time.Second); len(s.spares) == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no spare 10 s after the checkpoint")
		}
	}
	put("b")
	segs := segments(t, dir)
	if len(segs) != 1 || segs[0].gen != 2 {
		t.Fatalf("segments: got %v; want generation 2 alone", segs)
	}
	if fi, err := os.Stat(segs[0].path); err != nil || fi.Size() < spareMinSize {
		t.Errorf("segment 2: got %v bytes, %v; want a recycled file of at least %d", fi.Size(), err, spareMinSize)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 1 || ents[0].Name() != FileName {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("folder after Close: got %v; want [%s]", names, FileName)
	}
	s2 := reopen(t, dir)
	for _, k := range []string{"a", "b"} {
		if it, err := s2.Get(ctx, []byte(k), nil); err != nil || string(it.Value) != k {
			t.Errorf("Get(%q) after reopen: got %q, %v; want %q, nil", k, it.Value, err, k)
		}
	}
}
