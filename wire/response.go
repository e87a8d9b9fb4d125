package wire

import "bytes"

// Response is a parsed response head. Its byte slices alias memory owned by
// the ClientConn that parsed it, valid until it parses the next response.
type Response struct {
	Minor   int    // HTTP/1.Minor of the server
	Status  int    // three-digit status code
	Reason  []byte // reason phrase (informational only)
	Header  Header
	Trailer Header // trailer fields of a chunked body, once it is read
	Framing Framing
	// Close: the connection ends after this response ("Connection: close",
	// HTTP/1.0 without keep-alive, or a body delimited by closing).
	Close bool
}

func (r *Response) reset() {
	hdr, trl := r.Header, r.Trailer
	hdr.Reset()
	trl.Reset()
	*r = Response{Header: hdr, Trailer: trl}
}

// parseStatusLine parses status-line = HTTP-version SP status-code SP
// [ reason-phrase ] (RFC 9112 section 4). A missing SP before an empty
// reason is tolerated: some servers omit it.
func parseStatusLine(r *Response, line []byte) error {
	if i := bytes.IndexByte(line, '\r'); i >= 0 {
		return protoErr(ErrBareCR, i)
	}
	if len(line) < 12 || line[8] != ' ' {
		return protoErr(ErrStatusLine, 0)
	}
	minor, err := parseVersion(line[:8])
	if err != nil {
		return err
	}
	status := 0
	for _, c := range line[9:12] {
		if c < '0' || c > '9' {
			return protoErr(ErrStatusLine, 9)
		}
		status = status*10 + int(c-'0')
	}
	if status < 100 {
		return protoErr(ErrStatusLine, 9)
	}
	rest := line[12:]
	if len(rest) > 0 && rest[0] != ' ' {
		return protoErr(ErrStatusLine, 12)
	}
	if len(rest) > 0 {
		rest = rest[1:]
	}
	for i, c := range rest {
		if !isFieldVchar[c] && c != ' ' && c != '\t' {
			return protoErr(ErrStatusLine, 13+i)
		}
	}
	r.Minor, r.Status, r.Reason = minor, status, rest
	return nil
}

// parseResponseHead parses a complete, scanned response head to a request
// made with method into r, copying it into r's own memory.
func parseResponseHead(r *Response, head []byte, method string) error {
	r.reset()
	if err := parseHead(&r.Header, head, func(line []byte) error { return parseStatusLine(r, line) }); err != nil {
		return err
	}
	f, err := Frame(Start{Response: true, Method: method, Status: r.Status, Minor: r.Minor}, &r.Header)
	if err != nil {
		return err
	}
	r.Framing = f
	closing := r.Header.HasToken("Connection", "close")
	keep := r.Minor == 1 || r.Header.HasToken("Connection", "keep-alive")
	r.Close = closing || !keep || f.Close || f.Kind == BodyClose
	return nil
}
