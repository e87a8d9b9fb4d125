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
//	payload  gen (8 bytes, the segment's generation), seq (8 bytes,
//	         the version counter after the batch), then a batch's
//	         outcome: for each key the batch changed a kind byte (opPut
//	         or opDelete), the key's length (uvarint) and the key, and
//	         for a put the record's length (uvarint) and the record
//	         (record.go), its version stamped; or, in the last frame of
//	         a segment the committer has left for the next, the single
//	         kind byte opEnd
//
// Segments are recycled (segment.go): a new one usually overwrites an
// old one's file, whose frames then follow the new ones; their
// generation tells them apart. A frame is written whole and synced
// before any writer in it is answered, and the next frame is written
// only after that, so a crash can tear at most the last frame of the
// last segment: recovery stops at the first frame that is torn, or of
// another generation, which drops only writes nobody was told about.
// Every other segment must run whole to its end frame; one that does not
// was damaged after it was written, and Open refuses the folder rather
// than guess (store.ErrCorrupt).
const (
	walPrefix    = "kvhttp-wal-"
	walSuffix    = ".log"
	walMagic     = "KVHWAL01"
	walHeaderLen = len(walMagic) + 8
	frameHeader  = 8
	minPayload   = 16 // gen and seq: a zeroed region is no frame

	opPut    = 1
	opDelete = 2
	opEnd    = 3
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// walName returns the file name of generation gen's segment.
func walName(gen uint64) string {
	return fmt.Sprintf("%s%016x%s", walPrefix, gen, walSuffix)
}

// appendFrame appends to dst the frame of a batch: staged holds the
// batch's outcome, the last write of each key it changed, and seq is the
// version counter after it. Replaying the frame applies staged, which is
// what applying the batch's writes in order would leave.
func appendFrame(dst []byte, gen, seq uint64, staged *memtable) []byte {
	start := len(dst)
	dst = append(dst, make([]byte, frameHeader)...)
	dst = binary.BigEndian.AppendUint64(dst, gen)
	dst = binary.BigEndian.AppendUint64(dst, seq)
	staged.each(func(key string, rec []byte) bool {
		if rec == nil {
			dst = append(dst, opDelete)
			dst = binary.AppendUvarint(dst, uint64(len(key)))
			dst = append(dst, key...)
			return true
		}
		dst = append(dst, opPut)
		dst = binary.AppendUvarint(dst, uint64(len(key)))
		dst = append(dst, key...)
		dst = binary.AppendUvarint(dst, uint64(len(rec)))
		dst = append(dst, rec...)
		return true
	})
	return sealFrame(dst, start)
}

// appendEndFrame appends to dst the frame that ends generation gen's
// segment.
func appendEndFrame(dst []byte, gen, seq uint64) []byte {
	start := len(dst)
	dst = append(dst, make([]byte, frameHeader)...)
	dst = binary.BigEndian.AppendUint64(dst, gen)
	dst = binary.BigEndian.AppendUint64(dst, seq)
	dst = append(dst, opEnd)
	return sealFrame(dst, start)
}

// sealFrame fills in the header of the frame that starts at dst[start:].
func sealFrame(dst []byte, start int) []byte {
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
// order, and returns the highest version counter its frames name. In the
// newest segment (last) the first frame that is torn, or of another
// generation, ends it, unless a whole frame of its generation follows it
// (damage, not a torn write); any other segment must reach its end frame.
// Otherwise it is an error wrapping store.ErrCorrupt.
func replaySegment(path string, gen uint64, last bool, mt *memtable) (uint64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	if len(b) < walHeaderLen || string(b[:len(walMagic)]) != walMagic {
		if last && len(b) < walHeaderLen {
			return 0, nil // torn as it was created: nothing was written to it
		}
		return 0, fmt.Errorf("%s: not a kvhttp log segment: %w", path, store.ErrCorrupt)
	}
	if g := binary.BigEndian.Uint64(b[len(walMagic):]); g != gen {
		return 0, fmt.Errorf("%s: holds generation %d: %w", path, g, store.ErrCorrupt)
	}
	var seq uint64
	for off := walHeaderLen; ; {
		p, ok := frameAt(b, off, gen)
		if !ok {
			if next, ok := damagedFrame(b, off, gen); ok {
				return 0, fmt.Errorf("%s: damaged frame at offset %d, a whole frame after it at offset %d: %w", path, off, next, store.ErrCorrupt)
			}
			if last {
				return seq, nil
			}
			return 0, fmt.Errorf("%s: torn, damaged or stale frame at offset %d, before the end frame of a segment that was complete: %w", path, off, store.ErrCorrupt)
		}
		if len(p) == minPayload+1 && p[minPayload] == opEnd {
			return seq, nil
		}
		s, err := replayFrame(p, mt)
		if err != nil {
			// The checksum matched: this is not a torn write.
			return 0, fmt.Errorf("%s: frame at offset %d: %w: %w", path, off, store.ErrCorrupt, err)
		}
		seq = max(seq, s)
		off += frameHeader + len(p)
	}
}

// frameAt returns the payload of the frame at b[off:], and false if
// there is none of generation gen there: the end of what was written,
// a torn write, a frame left from the file's former use, or damage.
func frameAt(b []byte, off int, gen uint64) ([]byte, bool) {
	if len(b)-off < frameHeader+minPayload {
		return nil, false
	}
	n := int(binary.BigEndian.Uint32(b[off:]))
	if n < minPayload || n > len(b)-off-frameHeader {
		return nil, false
	}
	p := b[off+frameHeader : off+frameHeader+n]
	if crc32.Checksum(p, crcTable) != binary.BigEndian.Uint32(b[off+4:]) || binary.BigEndian.Uint64(p) != gen {
		return nil, false
	}
	return p, true
}

// damagedFrame reports whether the bad frame at b[off:] was damaged
// rather than torn: its header names a payload of generation gen that
// fits in b, and a whole frame of gen follows it. A crash tears only the
// last frame written, as no frame is written before the one ahead of it
// is on disk; a frame after it was written later, so this one was whole
// once. It returns where that next frame starts.
func damagedFrame(b []byte, off int, gen uint64) (int, bool) {
	if len(b)-off < frameHeader+minPayload {
		return 0, false
	}
	n := int(binary.BigEndian.Uint32(b[off:]))
	if n < minPayload || n > len(b)-off-frameHeader || binary.BigEndian.Uint64(b[off+frameHeader:]) != gen {
		return 0, false
	}
	next := off + frameHeader + n
	_, ok := frameAt(b, next, gen)
	return next, ok
}

// replayFrame applies one frame's payload (not an end frame) to mt and
// returns its seq.
func replayFrame(p []byte, mt *memtable) (uint64, error) {
	seq := binary.BigEndian.Uint64(p[8:])
	p = p[minPayload:]
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
