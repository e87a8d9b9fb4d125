package wire

// Expect classifies a request's Expect field (RFC 9110 section 10.1.1).
type Expect uint8

// Expectations.
const (
	ExpectNone     Expect = iota // no Expect field, or an HTTP/1.0 request
	ExpectContinue               // "100-continue": send 100 before reading the body
	ExpectUnknown                // anything else: answer 417
)

// Request is a parsed request head. Its byte slices alias memory owned by the
// ServerConn that parsed it; they stay valid until that connection parses
// its next request.
type Request struct {
	Method    string // one of the Method constants
	Target    []byte // the request-target as sent
	Path      []byte // the target's path, not decoded; "*" for OPTIONS *
	Query     []byte // the target's query without "?", or nil
	Authority []byte // host[:port] from an absolute-form target, else nil
	Minor     int    // HTTP/1.Minor: 0 or 1
	Header    Header
	Trailer   Header // trailer fields of a chunked body, once it is read
	Framing   Framing
	Expect    Expect
	// KeepAlive: the client allows another request on this connection after
	// this one (HTTP/1.1 without "Connection: close", or HTTP/1.0 with
	// "Connection: keep-alive"; RFC 9112 section 9.3).
	KeepAlive bool
}

// Host returns the Host field value (validated when the head was parsed).
func (r *Request) Host() []byte { return r.Header.Get("Host") }

// reset clears r for the next request, keeping its buffers.
func (r *Request) reset() {
	hdr, trl := r.Header, r.Trailer
	hdr.Reset()
	trl.Reset()
	*r = Request{Header: hdr, Trailer: trl}
}

// parseRequestHead parses a complete, scanned request head into r. The
// head is copied into r's own memory, so the receive buffer may move on.
func parseRequestHead(r *Request, head []byte, lim *Limits) error {
	r.reset()
	if err := parseHead(&r.Header, head, func(line []byte) error { return parseRequestLine(r, line) }); err != nil {
		return err
	}
	return checkRequest(r, lim)
}

// checkRequest applies the rules that span fields: Host, persistence,
// expectations, framing and the body limit.
func checkRequest(r *Request, lim *Limits) error {
	// RFC 9112 section 3.2: 400 for an HTTP/1.1 request without Host, with
	// more than one, or with an invalid one. HTTP/1.0 may omit it.
	switch n := r.Header.Count("Host"); {
	case n > 1:
		return protoErr(ErrHostRepeated, -1)
	case n == 0 && r.Minor == 1:
		return protoErr(ErrHostMissing, -1)
	case n == 1 && !validHost(r.Header.Get("Host")):
		return protoErr(ErrHost, -1)
	}
	closing := r.Header.HasToken("Connection", "close")
	r.KeepAlive = !closing && (r.Minor == 1 || r.Header.HasToken("Connection", "keep-alive"))

	// An HTTP/1.0 client cannot take a 100 (RFC 9110 section 10.1.1): its
	// expectation is ignored.
	if v, ok := r.Header.Lookup("Expect"); ok && r.Minor == 1 {
		r.Expect = ExpectUnknown
		if equalFold(v, "100-continue") {
			r.Expect = ExpectContinue
		}
	}
	f, err := Frame(Start{Method: r.Method, Minor: r.Minor}, &r.Header)
	if err != nil {
		return err
	}
	r.Framing = f
	return nil
}
