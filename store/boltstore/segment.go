package boltstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Segment files.
//
// An fdatasync after an append must also write the file's new size to
// the file system's journal; after an overwrite inside the file it need
// not. On this project's test machines that made a write-and-sync about
// 40% cheaper in time and CPU, and the committer syncs once per batch.
// So segment files are recycled rather than deleted: once a checkpoint
// has put a segment in bbolt, the checkpointer renames its file to a
// spare (walName + spareSuffix), extends it with zeros to spareMinSize if
// it is smaller, syncs it, and hands it to the committer, which renames
// it to its next segment's name and overwrites it from the start. The
// frames left in it from its former use carry an older generation, so
// recovery stops at them. At most one spare waits at a time; Close
// deletes it, leaving the folder with the data file alone.
//
// A segment made without a spare (the first two of a fresh store: a spare
// comes from a checkpoint, and the first ends only after the second
// segment has begun) grows ahead of its frames instead, growStep of zeros
// at a time, so that only one sync in growStep pays for a larger file.
const (
	spareSuffix  = ".spare"
	spareMinSize = 16 << 20
	growStep     = 1 << 20
)

// zeros is what files are extended with.
var zeros [growStep]byte

// segment is the log file the committer appends to.
type segment struct {
	f    *os.File
	gen  uint64
	off  int64 // end of the last frame known to be on disk
	size int64 // the file's size: frames may go up to it without growing it
}

// createSegment makes generation gen's segment in dir from the spare file
// at spare (or a new file if spare is "" or cannot be used), writes its
// header, and syncs the file and the folder, so that the segment exists
// after a crash before any frame in it is acknowledged. A spare gets its
// header before it takes the segment's name, so no crash leaves a
// segment whose header names another generation.
func createSegment(dir string, gen uint64, spare string) (*segment, error) {
	path := filepath.Join(dir, walName(gen))
	hdr := binary.BigEndian.AppendUint64([]byte(walMagic), gen)
	if spare != "" {
		if f, err := prepareFile(spare, os.O_RDWR, hdr); err == nil {
			fi, err := f.Stat()
			if err == nil {
				err = os.Rename(spare, path)
			}
			if err == nil {
				if err = syncDir(dir); err == nil {
					return &segment{f: f, gen: gen, off: int64(len(hdr)), size: fi.Size()}, nil
				}
			}
			f.Close()
		}
		os.Remove(spare)
	}
	f, err := prepareFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, hdr)
	if err == nil {
		err = syncDir(dir)
		if err != nil {
			f.Close()
		}
	}
	if err != nil {
		os.Remove(path)
		return nil, err
	}
	return &segment{f: f, gen: gen, off: int64(len(hdr)), size: int64(len(hdr))}, nil
}

// prepareFile opens path with flag and writes and syncs hdr at its start.
func prepareFile(path string, flag int, hdr []byte) (*os.File, error) {
	f, err := os.OpenFile(path, flag, 0o600)
	if err != nil {
		return nil, err
	}
	_, err = f.WriteAt(hdr, 0)
	if err == nil {
		err = fdatasync(f)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// append writes frame after the segment's last frame and syncs it. If
// either fails, it cuts the segment back to its last good frame, so that
// the failed frame cannot come back at recovery although its writers
// were told it failed; if even that fails, the error wraps errLogBroken
// and the segment must not be written again.
func (sg *segment) append(frame []byte, sync func(*os.File) error) error {
	err := sg.write(frame)
	if err == nil {
		err = sync(sg.f)
	}
	return sg.settle(len(frame), err)
}

// write writes frame after the segment's last frame, unsynced. The append
// ends with settle, once the frame's sync has returned.
func (sg *segment) write(frame []byte) error {
	if err := sg.grow(sg.off + int64(len(frame))); err != nil {
		return err
	}
	return writeFrameAt(sg.f, frame, sg.off)
}

// settle ends the append of an n-byte frame whose write and sync ended
// with err: on success the frame becomes the segment's last good one; on
// failure the segment is cut back as append says.
func (sg *segment) settle(n int, err error) error {
	if err == nil {
		sg.off += int64(n)
		return nil
	}
	if terr := sg.cut(); terr != nil {
		return fmt.Errorf("%w (and the log could not be cut back: %w)", err, errors.Join(terr, errLogBroken))
	}
	return err
}

// grow extends the file with zeros to the next multiple of growStep, as
// often as needed for it to hold end bytes. The sync that follows the
// frame makes both durable.
func (sg *segment) grow(end int64) error {
	for sg.size < end {
		n := growStep - sg.size%growStep
		if _, err := sg.f.WriteAt(zeros[:n], sg.size); err != nil {
			return err
		}
		sg.size += n
	}
	return nil
}

// errLogBroken marks a log that may hold a frame whose writers were told
// it failed: the store takes no more writes.
var errLogBroken = errors.New("write-ahead log is unusable until restart")

// cut truncates the segment to its last good frame and syncs it.
func (sg *segment) cut() error {
	if err := sg.f.Truncate(sg.off); err != nil {
		return err
	}
	sg.size = sg.off
	return fdatasync(sg.f)
}

// end writes and syncs the segment's end frame, which tells recovery the
// segment is whole, and closes it. seq is the version counter.
func (sg *segment) end(seq uint64, sync func(*os.File) error) error {
	if err := sg.append(appendEndFrame(nil, sg.gen, seq), sync); err != nil {
		return err
	}
	return sg.f.Close()
}

// recycleSegments deletes the segments of generations up to upTo, which
// bbolt holds, except the newest, which it makes a spare when keep is
// true and no spare is waiting. It reports the first error.
func (s *Store) recycleSegments(upTo uint64, keep bool) error {
	segs, err := listSegments(s.dir)
	if err != nil {
		return err
	}
	var first error
	for i, sg := range segs {
		if sg.gen > upTo {
			break
		}
		last := i == len(segs)-1 || segs[i+1].gen > upTo
		if last && keep && s.offerSpare(sg.path) {
			continue
		}
		if err := os.Remove(sg.path); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// offerSpare makes the file at path a spare and hands it to the
// committer, unless a spare is waiting already or something fails; it
// reports whether it did. Only the checkpointer calls it.
func (s *Store) offerSpare(path string) bool {
	if len(s.spares) > 0 {
		return false
	}
	spare := path + spareSuffix
	if err := os.Rename(path, spare); err != nil {
		return false
	}
	if err := extendFile(spare, spareMinSize); err != nil {
		os.Remove(spare)
		return false
	}
	s.spares <- spare // cannot block: only the checkpointer sends
	return true
}

// extendFile writes zeros at the end of the file at path until it holds
// size bytes, and syncs it, so that later writes overwrite blocks that
// are already the file's.
func extendFile(path string, size int64) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	for off := fi.Size(); off < size; off += int64(len(zeros)) {
		if _, err := f.WriteAt(zeros[:min(int64(len(zeros)), size-off)], off); err != nil {
			return err
		}
	}
	return fdatasync(f)
}

// takeSpare returns a waiting spare's path, or "".
func (s *Store) takeSpare() string {
	select {
	case p := <-s.spares:
		return p
	default:
		return ""
	}
}

// dropSpares deletes every spare in dir: those waiting and those left
// by a process that stopped without closing.
func (s *Store) dropSpares() {
	for s.takeSpare() != "" {
	}
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), walPrefix) && strings.HasSuffix(e.Name(), spareSuffix) {
			os.Remove(filepath.Join(s.dir, e.Name()))
		}
	}
}
