package wire

import "bytes"

// headScanner finds the end of a head (a start line and field lines, ending
// with an empty line) or of a trailer section (field lines only) while bytes
// arrive, and enforces the size limits before the whole section is there. It
// remembers where it stopped, so bytes arriving one at a time are examined
// once each.
//
// Every line must end in CRLF, and a CR may appear nowhere else (RFC 9112
// section 2.2): both are refused here, as soon as their line is in.
type headScanner struct {
	pos       int  // next byte to examine, relative to the section's start
	lineStart int  // start of the line being scanned
	fieldsAt  int  // start of the first field line
	fields    int  // field lines seen
	inFields  bool // the start line (if any) is behind us
}

// reset prepares the scanner for a new section; withStartLine is false for
// a trailer section.
func (s *headScanner) reset(withStartLine bool) {
	*s = headScanner{inFields: !withStartLine}
}

// scan examines b, which holds every byte of the section received so far
// from its first byte on. It returns the section's length once its final
// empty line is in b, or 0 if more bytes are needed.
func (s *headScanner) scan(b []byte, lim *Limits) (int, error) {
	maxLine, maxBytes, maxFields := lim.requestLine(), lim.headerBytes(), lim.headerFields()
	for {
		i := bytes.IndexByte(b[s.pos:], '\n')
		if i < 0 {
			s.pos = len(b)
			return 0, s.checkPartial(len(b), maxLine, maxBytes)
		}
		lf := s.pos + i
		// Limits first, then the line ending, so the verdict is the same
		// however the bytes were split on arrival (checkPartial agrees).
		if !s.inFields && lf-s.lineStart > maxLine+1 {
			return 0, protoErr(ErrLineTooLong, lf)
		}
		if s.inFields && lf+1-s.fieldsAt > maxBytes {
			return 0, protoErr(ErrHeaderTooLarge, lf)
		}
		if lf == s.lineStart || b[lf-1] != '\r' {
			return 0, protoErr(ErrBareLF, lf)
		}
		// A bare CR is refused as soon as its line is in, rather than
		// once the whole head is: a head that never ends must not hold
		// one back.
		if i := bytes.IndexByte(b[s.lineStart:lf-1], '\r'); i >= 0 {
			return 0, protoErr(ErrBareCR, s.lineStart+i)
		}
		lineLen := lf - 1 - s.lineStart // without CRLF
		s.pos, s.lineStart = lf+1, lf+1
		if !s.inFields {
			s.inFields, s.fieldsAt = true, lf+1
			continue
		}
		if lineLen == 0 {
			return s.pos, nil
		}
		if s.fields++; s.fields > maxFields {
			return 0, protoErr(ErrTooManyFields, lf)
		}
	}
}

// checkPartial applies the limits to a section that has n bytes so far and
// no end yet, so that an endless line is refused without waiting for it.
func (s *headScanner) checkPartial(n, maxLine, maxBytes int) error {
	if !s.inFields {
		if n-s.lineStart > maxLine+1 { // +1: the line's CR may be there already
			return protoErr(ErrLineTooLong, n)
		}
		return nil
	}
	if n-s.fieldsAt > maxBytes {
		return protoErr(ErrHeaderTooLarge, n)
	}
	return nil
}
