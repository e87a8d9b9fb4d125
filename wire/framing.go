package wire

// BodyKind says how a message body is delimited.
type BodyKind uint8

// Body delimitations of RFC 9112 section 6.
const (
	BodyNone    BodyKind = iota // no body at all
	BodyLength                  // exactly Framing.Length bytes (Content-Length)
	BodyChunked                 // the chunked transfer coding (section 7.1)
	BodyClose                   // everything until the connection closes (responses only)
)

// Framing is the answer to "how long is this body?".
type Framing struct {
	Kind   BodyKind
	Length int64 // for BodyLength
	// Close is set when the framing itself requires closing the connection
	// after the message (a response with both Transfer-Encoding and
	// Content-Length, section 6.3 item 3).
	Close bool
}

// Start is what framing depends on besides the header fields.
type Start struct {
	Response bool   // the message is a response
	Method   string // the request's method; for a response, of the request it answers
	Status   int    // a response's status code
	Minor    int    // the message's HTTP/1.Minor version
}

// Frame decides how the body of a message is delimited, following the
// ordered rules of RFC 9112 section 6.3, and rejects every ambiguity a
// request smuggler could use. It is pure: the same input, the same answer.
func Frame(s Start, h *Header) (Framing, error) {
	// 6.3 item 1: responses to HEAD, and 1xx, 204 and 304 responses, end at
	// their header section whatever their fields say.
	if s.Response && (s.Method == MethodHead || s.Status < 200 || s.Status == 204 || s.Status == 304) {
		return Framing{Kind: BodyNone}, nil
	}
	// 6.3 item 2: a 2xx response to CONNECT switches to a tunnel.
	if s.Response && s.Method == MethodConnect && s.Status < 300 {
		return Framing{}, protoErr(ErrTunnel, -1)
	}
	te := h.Count("Transfer-Encoding")
	cl := h.Count("Content-Length")
	if te > 0 {
		return frameTransferEncoding(s, h, cl > 0)
	}
	if cl > 0 {
		// 6.3 item 5: an invalid Content-Length is unrecoverable. A list of
		// identical values is allowed by RFC 9110 section 8.6, but we refuse
		// any repetition: nothing legitimate sends one.
		if cl > 1 {
			return Framing{}, protoErr(ErrContentLengthTwice, -1)
		}
		n, err := parseContentLength(h.Get("Content-Length"))
		if err != nil {
			return Framing{}, err
		}
		return Framing{Kind: BodyLength, Length: n}, nil // 6.3 item 6
	}
	if !s.Response {
		return Framing{Kind: BodyNone}, nil // 6.3 item 7: no body
	}
	return Framing{Kind: BodyClose}, nil // 6.3 item 8
}

// frameTransferEncoding applies 6.3 items 3 and 4 and section 6.1.
func frameTransferEncoding(s Start, h *Header, hasLength bool) (Framing, error) {
	// 6.1: Transfer-Encoding in HTTP/1.0 means the framing is faulty.
	if s.Minor == 0 {
		return Framing{}, protoErr(ErrTransferHTTP10, -1)
	}
	// 6.3 item 3: with Content-Length too, a request is refused (the server
	// "ought to" reject it; we always do) and a response is read as chunked,
	// then the connection closed.
	if hasLength && !s.Response {
		return Framing{}, protoErr(ErrLengthAndChunked, -1)
	}
	codings, chunked, chunkedLast := 0, 0, false
	var err error
	for name, value := range h.All() {
		if !equalFold(name, "Transfer-Encoding") {
			continue
		}
		forEachElement(value, func(c []byte) bool {
			codings++
			switch {
			case !isToken(c): // parameters or junk: nothing we can decode
				err = protoErr(ErrTransferEncoding, -1)
			case equalFold(c, "chunked"):
				chunked++
				chunkedLast = true
			default:
				chunkedLast = false
			}
			return err == nil
		})
		if err != nil {
			return Framing{}, err
		}
	}
	switch {
	case codings == 0:
		return Framing{}, protoErr(ErrTransferEncoding, -1)
	case chunked > 1: // 7.1: a sender MUST NOT apply chunked more than once
		return Framing{}, protoErr(ErrTransferEncoding, -1)
	case chunkedLast && codings == 1:
		return Framing{Kind: BodyChunked, Close: hasLength}, nil
	case chunkedLast:
		// gzip, chunked and the like: framed correctly, but we implement no
		// other coding (6.1: 501 for a coding the server does not understand).
		return Framing{}, protoErr(ErrCodingUnsupported, -1)
	case !s.Response && chunked > 0:
		// 6.3 item 4: chunked present but not final in a request: 400.
		return Framing{}, protoErr(ErrTransferEncoding, -1)
	case !s.Response:
		return Framing{}, protoErr(ErrCodingUnsupported, -1)
	}
	// 6.3 item 4: a response whose final coding is not chunked is read
	// until the connection closes.
	return Framing{Kind: BodyClose, Close: true}, nil
}

// parseContentLength parses Content-Length = 1*DIGIT (RFC 9110 section 8.6).
// Signs, spaces, hex, lists and values beyond int64 are refused.
func parseContentLength(v []byte) (int64, error) {
	if len(v) == 0 {
		return 0, protoErr(ErrContentLength, -1)
	}
	for _, c := range v {
		if c < '0' || c > '9' {
			if c == ',' {
				return 0, protoErr(ErrContentLengthTwice, -1)
			}
			return 0, protoErr(ErrContentLength, -1)
		}
	}
	// RFC 9110 section 8.6: anticipate large numerals. Leading zeros are
	// valid; more than 18 significant digits could overflow int64, and
	// are refused as invalid, as other servers do.
	for len(v) > 1 && v[0] == '0' {
		v = v[1:]
	}
	if len(v) > 18 {
		return 0, protoErr(ErrContentLength, -1)
	}
	var n int64
	for _, c := range v {
		n = n*10 + int64(c-'0')
	}
	return n, nil
}
