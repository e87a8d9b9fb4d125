package wire

import (
	"bytes"
	"errors"
)

// chunkStep is where a chunked decoder is within the coding (RFC 9112
// section 7.1): chunk = chunk-size [ chunk-ext ] CRLF chunk-data CRLF,
// ending with last-chunk, a trailer section and CRLF.
type chunkStep uint8

const (
	chunkSizeLine chunkStep = iota // awaiting chunk-size [ chunk-ext ] CRLF
	chunkData                      // inside chunk-data
	chunkDataEnd                   // awaiting the CRLF after chunk-data
	chunkTrailer                   // awaiting the trailer section
)

// bodyReader decodes one message body as bytes arrive.
type bodyReader struct {
	kind      BodyKind
	remaining int64 // BodyLength: bytes left; BodyChunked: bytes left in this chunk
	total     int64 // decoded bytes so far
	limit     int64 // on total; -1 for none
	done      bool
	step      chunkStep
	scanned   int // bytes of the pending chunk-size line already searched for LF
	scan      headScanner
	trailer   *Header
}

func (b *bodyReader) reset(f Framing, limit int64, trailer *Header) {
	*b = bodyReader{kind: f.Kind, remaining: f.Length, limit: limit, trailer: trailer}
	b.done = f.Kind == BodyNone || (f.Kind == BodyLength && f.Length == 0)
}

// read decodes what it can from the start of in. It returns at most max body
// bytes (a sub-slice of in, possibly empty) and how many bytes of in it consumed;
// the caller must consume those even when err is ErrNeedMore. b.done is set
// once the body has ended. eof reports that no more bytes will arrive.
func (b *bodyReader) read(in []byte, max int, eof bool, lim *Limits) (data []byte, n int, err error) {
	switch {
	case b.done:
		return nil, 0, nil
	case b.kind == BodyLength:
		if len(in) == 0 {
			return nil, 0, needMore(eof)
		}
		k := int(min(int64(min(len(in), max)), b.remaining))
		b.remaining -= int64(k)
		b.total += int64(k)
		b.done = b.remaining == 0
		return in[:k], k, nil
	case b.kind == BodyClose:
		if len(in) == 0 {
			if eof {
				b.done = true
				return nil, 0, nil
			}
			return nil, 0, ErrNeedMore
		}
		k := min(len(in), max)
		if b.total += int64(k); b.limit >= 0 && b.total > b.limit {
			return nil, 0, protoErr(ErrBodyTooLarge, -1)
		}
		return in[:k], k, nil
	}
	data, n, err = b.readChunked(in, max, lim)
	if errors.Is(err, ErrNeedMore) {
		err = needMore(eof)
	}
	return data, n, err
}

// fill copies decoded body bytes from in into p, consuming what it decodes.
// It returns ErrNeedMore only when it could copy nothing.
func (b *bodyReader) fill(p []byte, in *inbuf, lim *Limits) (int, error) {
	n := 0
	for n < len(p) && !b.done {
		data, used, err := b.read(in.unread(), len(p)-n, in.eof, lim)
		n += copy(p[n:], data)
		in.consume(used)
		if errors.Is(err, ErrNeedMore) && n > 0 {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// needMore is ErrNeedMore, or ErrTruncated when no more bytes will come.
func needMore(eof bool) error {
	if eof {
		return protoErr(ErrTruncated, -1)
	}
	return ErrNeedMore
}

func (b *bodyReader) readChunked(in []byte, max int, lim *Limits) ([]byte, int, error) {
	n := 0
	for {
		rest := in[n:]
		switch b.step {
		case chunkSizeLine:
			size, used, err := b.chunkLine(rest, lim)
			if err != nil {
				return nil, n, err
			}
			if used == 0 {
				return nil, n, ErrNeedMore
			}
			n += used
			if size == 0 {
				b.step = chunkTrailer
				b.scan.reset(false)
				continue
			}
			if b.limit >= 0 && b.total+size > b.limit {
				return nil, n, protoErr(ErrBodyTooLarge, -1)
			}
			b.remaining, b.step = size, chunkData
		case chunkData:
			if len(rest) == 0 {
				return nil, n, ErrNeedMore
			}
			k := int(min(int64(min(len(rest), max)), b.remaining))
			b.remaining -= int64(k)
			b.total += int64(k)
			if b.remaining == 0 {
				b.step = chunkDataEnd
			}
			return rest[:k], n + k, nil
		case chunkDataEnd:
			if len(rest) > 0 && rest[0] != '\r' || len(rest) > 1 && rest[1] != '\n' {
				return nil, n, protoErr(ErrChunk, -1)
			}
			if len(rest) < 2 {
				return nil, n, ErrNeedMore
			}
			n += 2
			b.step = chunkSizeLine
		case chunkTrailer:
			end, err := b.scan.scan(rest, lim)
			if err != nil || end == 0 {
				if err == nil {
					err = ErrNeedMore
				}
				return nil, n, err
			}
			b.trailer.Reset()
			b.trailer.buf = append(b.trailer.buf, rest[:end]...)
			if err := parseFields(b.trailer, 0); err != nil {
				return nil, n, err
			}
			b.done = true
			return nil, n + end, nil
		}
	}
}

// chunkLine parses chunk-size [ chunk-ext ] CRLF at the start of in. It
// returns used == 0 (and no error) while the line is incomplete. The size is
// 1*HEXDIG with no sign, prefix or whitespace, at most 15 digits so it
// cannot overflow; extensions are checked and ignored.
func (b *bodyReader) chunkLine(in []byte, lim *Limits) (size int64, used int, err error) {
	max := lim.chunkLine()
	i := bytes.IndexByte(in[b.scanned:], '\n')
	if i < 0 {
		if len(in) > max+1 {
			return 0, 0, protoErr(ErrChunk, -1)
		}
		b.scanned = len(in)
		return 0, 0, nil
	}
	lf := b.scanned + i
	b.scanned = 0
	if lf > max+1 { // before the line ending, as when the line is partial
		return 0, 0, protoErr(ErrChunk, -1)
	}
	if lf == 0 || in[lf-1] != '\r' {
		return 0, 0, protoErr(ErrBareLF, -1)
	}
	line := in[:lf-1]
	j := 0
	for ; j < len(line) && hexValue[line[j]] >= 0; j++ {
		if j == 15 {
			return 0, 0, protoErr(ErrChunk, -1)
		}
		size = size<<4 | int64(hexValue[line[j]])
	}
	if j == 0 || !validChunkExt(line[j:]) {
		return 0, 0, protoErr(ErrChunk, -1)
	}
	return size, lf + 1, nil
}

// validChunkExt checks chunk-ext = *( ";" chunk-ext-name [ "=" chunk-ext-val ] )
// with token names and token or quoted-string values. The grammar's BWS is
// refused: whitespace in a chunk line is how parsers have been told apart.
func validChunkExt(e []byte) bool {
	for len(e) > 0 {
		if e[0] != ';' {
			return false
		}
		if e = skipToken(e[1:]); e == nil {
			return false
		}
		if len(e) == 0 || e[0] == ';' {
			continue
		}
		if e[0] != '=' || len(e) == 1 {
			return false
		}
		if e[1] == '"' {
			e = skipQuoted(e[1:])
		} else {
			e = skipToken(e[1:])
		}
		if e == nil {
			return false
		}
	}
	return true
}

// skipToken returns e after its leading token, or nil if it has none.
func skipToken(e []byte) []byte {
	i := 0
	for i < len(e) && isTchar[e[i]] {
		i++
	}
	if i == 0 {
		return nil
	}
	return e[i:]
}

// skipQuoted returns e after its leading quoted-string (RFC 9110 section
// 5.6.4), or nil if it is malformed.
func skipQuoted(e []byte) []byte {
	for i := 1; i < len(e); i++ {
		switch c := e[i]; {
		case c == '"':
			return e[i+1:]
		case c == '\\':
			if i++; i == len(e) || !(isFieldVchar[e[i]] || e[i] == ' ' || e[i] == '\t') {
				return nil
			}
		case !isQdtext[c]:
			return nil
		}
	}
	return nil
}
