package wire

import "bytes"

// parseHead copies a scanned head into h's arena, so that the receive
// buffer may move on, parses its start line (without CRLF) with parseStart
// and its field lines into h.
func parseHead(h *Header, head []byte, parseStart func(line []byte) error) error {
	h.buf = append(h.buf, head...)
	lf := bytes.IndexByte(h.buf, '\n')
	if err := parseStart(h.buf[:lf-1]); err != nil {
		return err
	}
	return parseFields(h, lf+1)
}

// parseFields parses the field lines of a scanned section into h. The section
// is h.buf[start:]: CRLF-terminated field lines followed by an empty line
// (the scanner has checked the line endings and the limits).
//
// RFC 9112 section 5: field-line = field-name ":" OWS field-value OWS.
// Rejected: whitespace before the colon (section 5.1: MUST reject with 400),
// obs-fold or a line starting with whitespace (section 5.2: we reject rather
// than unfold), a name that is not a token, and CR, NUL or other control
// characters in a value (RFC 9110 section 5.5).
func parseFields(h *Header, start int) error {
	b := h.buf
	for pos := start; ; {
		lf := pos + bytes.IndexByte(b[pos:], '\n')
		end := lf - 1 // the line's CR
		if end == pos {
			return nil
		}
		if err := parseFieldLine(h, pos, end); err != nil {
			return err
		}
		pos = lf + 1
	}
}

// parseFieldLine parses h.buf[start:end] as one field line and records it.
func parseFieldLine(h *Header, start, end int) error {
	b := h.buf
	if c := b[start]; c == ' ' || c == '\t' {
		return protoErr(ErrObsFold, start)
	}
	colon := start
	for ; colon < end && b[colon] != ':'; colon++ {
		switch c := b[colon]; {
		case isTchar[c]:
		case c == ' ' || c == '\t':
			return protoErr(ErrSpaceBeforeColon, colon)
		case c == '\r':
			return protoErr(ErrBareCR, colon)
		default:
			return protoErr(ErrFieldName, colon)
		}
	}
	if colon == end || colon == start {
		return protoErr(ErrFieldName, start)
	}
	vs, ve := colon+1, end
	for vs < ve && (b[vs] == ' ' || b[vs] == '\t') {
		vs++
	}
	for ve > vs && (b[ve-1] == ' ' || b[ve-1] == '\t') {
		ve--
	}
	for i := vs; i < ve; i++ {
		if c := b[i]; !isFieldVchar[c] && c != ' ' && c != '\t' {
			if c == '\r' {
				return protoErr(ErrBareCR, i)
			}
			return protoErr(ErrFieldValue, i)
		}
	}
	h.fields = append(h.fields, fieldRef{start, colon, vs, ve})
	return nil
}

// validField reports whether a field line may be encoded: a token name and a
// value without control characters other than HTAB. The encoder drops any
// other field, so that no application value can split a message.
func validField(name, value []byte) bool {
	if !isToken(name) {
		return false
	}
	for _, c := range value {
		if !isFieldVchar[c] && c != ' ' && c != '\t' {
			return false
		}
	}
	return true
}
