package wire

import (
	"errors"
	"io"
)

// ClientConn is the client's side of one HTTP/1.1 connection, without I/O:
// it encodes requests (AppendRequest), and parses the responses fed to it
// (NextResponse, ReadBody), matching each to its request so that responses
// to HEAD, and pipelined responses, are framed right.
//
// The zero ClientConn is ready to use with default Limits; a client that
// reads large bodies sets Limits.MaxBodyBytes (negative: no limit).
type ClientConn struct {
	// Limits bound what the server may send; set them before the first Feed.
	Limits Limits

	in      inbuf
	state   ConnState
	scan    headScanner
	resp    Response
	body    bodyReader
	pending []string // methods of requests awaiting a final response, oldest first
	closing bool     // no request may follow: one side asked to close
}

// State returns the state of response parsing.
func (c *ClientConn) State() ConnState { return c.state }

// Space returns at least min bytes of free buffer to receive into; after
// receiving n bytes there, call Received(n).
func (c *ClientConn) Space(min int) []byte { return c.in.space(min) }

// Received records n bytes written into the slice Space returned.
func (c *ClientConn) Received(n int) {
	c.in.w += n
	if n > 0 && c.state == StateIdle {
		advance(clientMoves[:], &c.state, StateHead)
	}
}

// Feed records bytes received from the server.
func (c *ClientConn) Feed(p []byte) {
	copy(c.Space(len(p)), p)
	c.Received(len(p))
}

// FeedEOF records that the server will send nothing more.
func (c *ClientConn) FeedEOF() { c.in.eof = true }

// Pending returns how many requests await their final response.
func (c *ClientConn) Pending() int { return len(c.pending) }

// Reusable reports whether another request may be sent on this connection
// and answered: it is idle, nothing is pending and nobody asked to close.
func (c *ClientConn) Reusable() bool {
	return c.state == StateIdle && len(c.pending) == 0 && !c.closing && !c.in.eof
}

// AppendRequest appends a whole request to dst: request line, h's fields
// (Host among them: the caller provides it), Content-Length when there is a
// body or the method defines one, and the body.
func (c *ClientConn) AppendRequest(dst []byte, method, target string, h *Header, body []byte) ([]byte, error) {
	dst, err := c.AppendRequestHead(dst, method, target, h, int64(len(body)))
	if err != nil {
		return dst, err
	}
	return append(dst, body...), nil
}

// AppendRequestHead appends a request head announcing a body of
// contentLength bytes, which the caller sends next: with "Expect:
// 100-continue" in h, after reading the 100 response.
func (c *ClientConn) AppendRequestHead(dst []byte, method, target string, h *Header, contentLength int64) ([]byte, error) {
	if c.closing || c.state == StateClosed || !isToken([]byte(method)) || !validTarget(target) || contentLength < 0 {
		return dst, ErrSequence
	}
	dst = append(dst, method...)
	dst = append(dst, ' ')
	dst = append(dst, target...)
	dst = append(dst, " HTTP/1.1\r\n"...)
	dst = appendFields(dst, h)
	if h != nil && h.HasToken("Connection", "close") {
		c.closing = true
		dst = append(dst, "Connection: close\r\n"...)
	}
	// RFC 9110 section 8.6: send Content-Length when the method gives the
	// content a meaning, even when it is 0.
	if contentLength > 0 || method == MethodPost || method == MethodPut || method == MethodPatch {
		dst = appendContentLength(dst, contentLength)
	}
	dst = append(dst, "\r\n"...)
	c.pending = append(c.pending, method)
	return dst, nil
}

// NextResponse parses the next response head: an interim (1xx) one, which
// has no body, or the final response to the oldest pending request. It
// returns ErrNeedMore until the head has arrived and io.EOF once the
// connection is done.
func (c *ClientConn) NextResponse() (*Response, error) {
	switch c.state {
	case StateIdle:
		if c.in.eof {
			advance(clientMoves[:], &c.state, StateClosed)
			return nil, io.EOF
		}
		return nil, ErrNeedMore
	case StateClosed:
		return nil, io.EOF
	case StateHead:
	default:
		return nil, ErrSequence
	}
	if len(c.pending) == 0 {
		return nil, c.fail(protoErr(ErrUnsolicited, 0))
	}
	in := c.in.unread()
	end, err := c.scan.scan(in, &c.Limits)
	if err != nil {
		return nil, c.fail(err)
	}
	if end == 0 {
		if c.in.eof {
			return nil, c.fail(protoErr(ErrTruncated, -1))
		}
		return nil, ErrNeedMore
	}
	err = parseResponseHead(&c.resp, in[:end], c.pending[0])
	c.in.consume(end)
	c.scan.reset(true)
	if err != nil {
		return nil, c.fail(err)
	}
	r := &c.resp
	if r.Status < 200 {
		if r.Status == 101 { // we never ask to switch protocols
			return nil, c.fail(protoErr(ErrTunnel, 0))
		}
		c.toIdle()
		return r, nil
	}
	limit := c.Limits.bodyBytes()
	if r.Framing.Kind == BodyLength && limit >= 0 && r.Framing.Length > limit {
		return nil, c.fail(protoErr(ErrBodyTooLarge, -1))
	}
	c.closing = c.closing || r.Close
	c.body.reset(r.Framing, limit, &r.Trailer)
	if c.body.done {
		c.endResponse()
	} else {
		advance(clientMoves[:], &c.state, StateBody)
	}
	return r, nil
}

// ReadBody copies body bytes of the current response into p. It returns
// ErrNeedMore (with n == 0) when none are buffered and io.EOF at the end.
func (c *ClientConn) ReadBody(p []byte) (int, error) {
	if c.state != StateBody {
		if c.state == StateClosed && c.body.done || c.state == StateIdle || c.state == StateHead {
			return 0, io.EOF
		}
		return 0, ErrSequence
	}
	n, err := c.body.fill(p, &c.in, &c.Limits)
	if err != nil {
		if !errors.Is(err, ErrNeedMore) {
			err = c.fail(err)
		}
		return n, err
	}
	if c.body.done {
		c.endResponse()
		if n == 0 {
			return 0, io.EOF
		}
	}
	return n, nil
}

// endResponse retires the oldest pending request once its final response
// has been read entirely. The connection ends after a response that says
// so, or after the response to the request that said so, which was the
// last one sent: responses to requests pipelined before it are still read
// (RFC 9112 section 9.6).
func (c *ClientConn) endResponse() {
	c.pending = c.pending[:copy(c.pending, c.pending[1:])]
	if c.resp.Close || c.closing && len(c.pending) == 0 {
		advance(clientMoves[:], &c.state, StateClosed)
		return
	}
	c.toIdle()
}

func (c *ClientConn) toIdle() {
	advance(clientMoves[:], &c.state, StateIdle)
	if c.in.w > c.in.r {
		advance(clientMoves[:], &c.state, StateHead)
	}
}

func (c *ClientConn) fail(err error) error {
	c.closing = true
	advance(clientMoves[:], &c.state, StateClosed)
	return err
}
