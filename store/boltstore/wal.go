package boltstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"kvhttp/store"
)

// The write-ahead log.
//
// A bbolt commit fsyncs twice (its pages, then its meta page), and the
// pages it writes are scattered over the file; an append to a log and one
// fdatasync is the least a durable write can cost. So the committer makes
// a batch durable by appending it to the log as one frame and syncing
// once, and only a checkpointer writes to bbolt, in the background, a
// whole generation of batches at a time (see checkpoint.go). This is
// etcd's design (a log, and bbolt applied behind it) without consensus.
//
// The log is a series of segment files in the store's folder, one per
// generation, named walPrefix + 16 hex digits of the generation +
// walSuffix. A segment starts with an 8-byte magic and its generation,
// then holds frames:
//
//	length   4 bytes  big-endian uint32, the length of payload
//	crc      4 bytes  big-endian CRC-32C of payload
//	payload  a batch's outcome: seq (8 bytes, the version counter
//	         after the batch), then for each key the batch changed a
//	         kind byte (opPut or opDelete), the key's length (uvarint)
//	         and the key, and for a put the record's length (uvarint)
//	         and the record (record.go), its version stamped
//
// A frame is written whole and synced before any writer in it is
// answered, and the next frame is written only after that, so a crash
// can tear at most the last frame of the last segment: recovery stops
// there, which drops only writes nobody was told about. A bad frame
// anywhere else means the file was damaged after it was written, and
// Open refuses the folder rather than guess (store.ErrCorrupt).
const (
	walPrefix    = "kvhttp-wal-"
	walSuffix    = ".log"
	walMagic     = "KVHWAL01"
	walHeaderLen = len(walMagic) + 8
	frameHeader  = 8

	opPut    = 1
	opDelete = 2
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// walName returns the file name of generation gen's segment.
func walName(gen uint64) string {
	return fmt.Sprintf("%s%016x%s", walPrefix, gen, walSuffix)
}

// segment is the log file the committer appends to.
type segment struct {
	f   *os.File
	gen uint64
	off int64 // end of the last frame known to be on disk
}

// createSegment creates generation gen's segment in dir, writes its
// header, and syncs the file and the folder, so that the segment exists
// after a crash before any frame in it is acknowledged.
func createSegment(dir string, gen uint64) (*segment, error) {
	path := filepath.Join(dir, walName(gen))
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	hdr := binary.BigEndian.AppendUint64([]byte(walMagic), gen)
	if _, err := f.Write(hdr); err == nil {
		err = fdatasync(f)
	}
	if err == nil {
		err = syncDir(dir)
	}
	if err != nil {
		f.Close()
		os.Remove(path)
		return nil, err
	}
	return &segment{f: f, gen: gen, off: int64(len(hdr))}, nil
}

// append writes frame at the end of the segment and syncs it. If either
// fails, it cuts the segment back to its last good frame, so that the
// failed frame cannot come back at recovery although its writers were
// told it failed; if even that fails, the error says so and the segment
// must not be written again.
func (sg *segment) append(frame []byte, sync func(*os.File) error) error {
	_, err := sg.f.WriteAt(frame, sg.off)
	if err == nil {
		err = sync(sg.f)
	}
	if err == nil {
		sg.off += int64(len(frame))
		return nil
	}
	if terr := sg.cut(); terr != nil {
		return fmt.Errorf("%w (and the log could not be cut back: %w)", err, errors.Join(terr, errLogBroken))
	}
	return err
}

// errLogBroken marks a log that may hold a frame whose writers were told
// it failed: the store takes no more writes.
var errLogBroken = errors.New("write-ahead log is unusable until restart")

// cut truncates the segment to its last good frame and syncs it.
func (sg *segment) cut() error {
	if err := sg.f.Truncate(sg.off); err != nil {
		return err
	}
	return fdatasync(sg.f)
}

// close closes the segment's file.
func (sg *segment) close() error { return sg.f.Close() }

// appendFrame appends to dst the frame of a batch: staged holds the
// batch's outcome, the last write of each key it changed, and seq is the
// version counter after it. Replaying the frame applies staged, which is
// what applying the batch's writes in order would leave.
func appendFrame(dst []byte, seq uint64, staged *memtable) []byte {
	start := len(dst)
	dst = append(dst, make([]byte, frameHeader)...)
	dst = binary.BigEndian.AppendUint64(dst, seq)
	for key, rec := range staged.m {
		if rec == nil {
			dst = append(dst, opDelete)
			dst = binary.AppendUvarint(dst, uint64(len(key)))
			dst = append(dst, key...)
			continue
		}
		dst = append(dst, opPut)
		dst = binary.AppendUvarint(dst, uint64(len(key)))
		dst = append(dst, key...)
		dst = binary.AppendUvarint(dst, uint64(len(rec)))
		dst = append(dst, rec...)
	}
	payload := dst[start+frameHeader:]
	binary.BigEndian.PutUint32(dst[start:], uint32(len(payload)))
	binary.BigEndian.PutUint32(dst[start+4:], crc32.Checksum(payload, crcTable))
	return dst
}

// walFile is a segment found in the folder at Open.
type walFile struct {
	gen  uint64
	path string
}

// listSegments returns the segments in dir in generation order.
func listSegments(dir string) ([]walFile, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var segs []walFile
	for _, e := range ents {
		name := e.Name()
		hex, ok := strings.CutPrefix(name, walPrefix)
		if !ok {
			continue
		}
		hex, ok = strings.CutSuffix(hex, walSuffix)
		if !ok || len(hex) != 16 {
			continue
		}
		gen, err := strconv.ParseUint(hex, 16, 64)
		if err != nil {
			continue
		}
		segs = append(segs, walFile{gen: gen, path: filepath.Join(dir, name)})
	}
	slices.SortFunc(segs, func(a, b walFile) int { return cmpUint(a.gen, b.gen) })
	return segs, nil
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// replaySegment reads the segment at path into mt, applying its frames in
// order, and returns the highest version counter its frames name. If last
// is true (the newest segment) a torn header or frame ends the segment;
// otherwise it is an error wrapping store.ErrCorrupt.
func replaySegment(path string, gen uint64, last bool, mt *memtable) (uint64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	torn := func(what string, off int) (uint64, error) {
		if last {
			return 0, nil
		}
		return 0, fmt.Errorf("%s: %s at offset %d of a segment that was complete: %w", path, what, off, store.ErrCorrupt)
	}
	if len(b) < walHeaderLen || string(b[:len(walMagic)]) != walMagic {
		if last && len(b) < walHeaderLen {
			return torn("torn header", 0)
		}
		return 0, fmt.Errorf("%s: not a kvhttp log segment: %w", path, store.ErrCorrupt)
	}
	if g := binary.BigEndian.Uint64(b[len(walMagic):]); g != gen {
		return 0, fmt.Errorf("%s: holds generation %d: %w", path, g, store.ErrCorrupt)
	}
	var seq uint64
	for off := walHeaderLen; off < len(b); {
		if len(b)-off < frameHeader {
			_, err := torn("torn frame header", off)
			return seq, err
		}
		n := int(binary.BigEndian.Uint32(b[off:]))
		sum := binary.BigEndian.Uint32(b[off+4:])
		if n > len(b)-off-frameHeader || crc32.Checksum(b[off+frameHeader:off+frameHeader+n], crcTable) != sum {
			_, err := torn("torn or damaged frame", off)
			return seq, err
		}
		s, err := replayFrame(b[off+frameHeader:off+frameHeader+n], mt)
		if err != nil {
			// The checksum matched: this is not a torn write.
			return 0, fmt.Errorf("%s: frame at offset %d: %w: %w", path, off, store.ErrCorrupt, err)
		}
		seq = max(seq, s)
		off += frameHeader + n
	}
	return seq, nil
}

// replayFrame applies one frame's payload to mt and returns its seq.
func replayFrame(p []byte, mt *memtable) (uint64, error) {
	if len(p) < 8 {
		return 0, errors.New("short payload")
	}
	seq := binary.BigEndian.Uint64(p)
	p = p[8:]
	field := func() ([]byte, error) {
		n, w := binary.Uvarint(p)
		if w <= 0 || n > uint64(len(p)-w) {
			return nil, errors.New("bad length")
		}
		f := p[w : w+int(n)]
		p = p[w+int(n):]
		return f, nil
	}
	for len(p) > 0 {
		kind := p[0]
		p = p[1:]
		key, err := field()
		if err != nil {
			return 0, err
		}
		switch kind {
		case opDelete:
			mt.set(key, nil)
		case opPut:
			rec, err := field()
			if err != nil {
				return 0, err
			}
			if _, err := decodeRecord(rec); err != nil {
				return 0, err
			}
			mt.set(key, rec)
		default:
			return 0, fmt.Errorf("unknown operation %d", kind)
		}
	}
	return seq, nil
}
