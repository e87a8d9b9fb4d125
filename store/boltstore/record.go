package boltstore

import (
	"encoding/binary"
	"fmt"

	"kvhttp/store"
)

// A record is what the data bucket holds under each key:
//
//	format       1 byte   recordFormat (1)
//	version      8 bytes  big-endian uint64, from the bucket's NextSequence
//	ctLen        1 byte   length of the content type (0..255)
//	contentType  ctLen bytes
//	value        the rest
//
// The format byte comes first so that a later layout can be told apart
// from this one; the version sits at a fixed offset so that condition
// checks read it without looking further.
const (
	recordFormat    = 1
	recordHeaderLen = 1 + 8 + 1
)

// record is a decoded record. Its slices alias the encoded bytes.
type record struct {
	version     uint64
	contentType []byte
	value       []byte
}

// recordLen reports the encoded length of a record.
func recordLen(contentType, value []byte) int {
	return recordHeaderLen + len(contentType) + len(value)
}

// appendRecord appends the encoding of a record to dst. The caller has
// checked that contentType fits in one length byte.
func appendRecord(dst []byte, version uint64, contentType, value []byte) []byte {
	dst = append(dst, recordFormat)
	dst = binary.BigEndian.AppendUint64(dst, version)
	dst = append(dst, byte(len(contentType)))
	dst = append(dst, contentType...)
	return append(dst, value...)
}

// decodeRecord splits an encoded record. It fails with an error wrapping
// store.ErrCorrupt when b is short or has an unknown format byte.
func decodeRecord(b []byte) (record, error) {
	if len(b) < recordHeaderLen {
		return record{}, fmt.Errorf("record of %d bytes is too short: %w", len(b), store.ErrCorrupt)
	}
	if b[0] != recordFormat {
		return record{}, fmt.Errorf("record has unknown format %d: %w", b[0], store.ErrCorrupt)
	}
	end := recordHeaderLen + int(b[9])
	if len(b) < end {
		return record{}, fmt.Errorf("record of %d bytes is shorter than its content type: %w", len(b), store.ErrCorrupt)
	}
	return record{
		version:     binary.BigEndian.Uint64(b[1:9]),
		contentType: b[recordHeaderLen:end],
		value:       b[end:],
	}, nil
}

// setRecordVersion stamps an encoded record with version v.
func setRecordVersion(rec []byte, v uint64) {
	binary.BigEndian.PutUint64(rec[1:9], v)
}

// recordVersion returns the version of an encoded record.
func recordVersion(b []byte) (uint64, error) {
	r, err := decodeRecord(b)
	return r.version, err
}
