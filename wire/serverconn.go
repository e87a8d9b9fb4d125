package wire

import (
	"errors"
	"io"
	"math"
	"strconv"
)

// maxLeadingEmptyLines bounds the empty lines ignored before a request-line
// (RFC 9112 section 2.2 asks servers to ignore "at least one").
const maxLeadingEmptyLines = 4

// ServerConn is the server's side of one HTTP/1.1 connection, without I/O.
// Feed it what the client sends; take requests (NextRequest) and their body
// bytes (ReadBody) from it; have it encode each response (AppendResponse)
// and send what it appended. It decides persistence, framing and the order
// of messages; the caller decides only when to read, write and give up.
//
// The zero ServerConn is ready to use with default Limits.
type ServerConn struct {
	// Limits bound what the client may send; set them before the first Feed.
	Limits Limits

	in        inbuf
	state     ConnState
	scan      headScanner
	req       Request
	body      bodyReader
	keepAlive bool  // another request may follow the current one
	continued bool  // no 100 Continue is owed: sent, or not asked for
	refused   error // the body, refused before a byte of it is read
	failed    bool  // a protocol error ended parsing
	answered  bool  // the current request has its response
	streaming bool  // a streamed response has begun and not ended
	// streamClosing: the connection closes after the streamed response.
	streamClosing bool
	leading       int // empty lines skipped before the current request
}

// State returns the connection's state.
func (c *ServerConn) State() ConnState { return c.state }

// Space returns at least min bytes of free buffer to receive into; after
// receiving n bytes there, call Received(n). This avoids the copy of Feed.
func (c *ServerConn) Space(min int) []byte { return c.in.space(min) }

// Received records n bytes written into the slice Space returned.
func (c *ServerConn) Received(n int) {
	c.in.w += n
	if n > 0 && c.state == StateIdle {
		advance(serverMoves[:], &c.state, StateHead)
	}
}

// Feed records bytes received from the client.
func (c *ServerConn) Feed(p []byte) {
	copy(c.Space(len(p)), p)
	c.Received(len(p))
}

// FeedEOF records that the client will send nothing more.
func (c *ServerConn) FeedEOF() { c.in.eof = true }

// Buffered returns how many received bytes are not parsed yet.
func (c *ServerConn) Buffered() int { return c.in.w - c.in.r }

// ReleaseBuffer lets go of the receive buffer if it holds nothing and,
// between requests, of the last request's header memory, so that an idle
// connection costs no buffer memory. Both are allocated again as needed.
func (c *ServerConn) ReleaseBuffer() {
	c.in.release()
	if c.state == StateIdle {
		c.req = Request{}
	}
}

// NextRequest parses the next request head. It returns ErrNeedMore until the
// head has arrived, io.EOF once the connection is done (the client closed
// between requests, or the last response went out), and a *ProtocolError
// for a request it refuses: the caller should then send one error response
// (AppendResponse still works once) and close. The previous request must
// have been answered; the rest of its body is discarded first.
func (c *ServerConn) NextRequest() (*Request, error) {
	if c.state == StateDrain {
		if err := c.drain(); err != nil {
			return nil, err
		}
	}
	switch c.state {
	case StateIdle:
		if c.in.eof {
			advance(serverMoves[:], &c.state, StateClosed)
			return nil, io.EOF
		}
		return nil, ErrNeedMore
	case StateClosed:
		return nil, io.EOF
	case StateHead:
	default:
		return nil, ErrSequence
	}
	c.req.Method = "" // until this request's line is parsed
	in := c.in.unread()
	for c.scan.pos == 0 && c.leading < maxLeadingEmptyLines && len(in) > 0 && in[0] == '\r' {
		if len(in) == 1 {
			return nil, c.needMore()
		}
		if in[1] != '\n' {
			break // a bare CR: the parser refuses it below
		}
		c.in.consume(2)
		c.leading++
		if in = c.in.unread(); len(in) == 0 {
			// Nothing of a request yet: idle again, so the idle
			// timeout applies and a close here is a clean end.
			advance(serverMoves[:], &c.state, StateIdle)
			return c.NextRequest()
		}
	}
	end, err := c.scan.scan(in, &c.Limits)
	if err != nil {
		return nil, c.fail(err)
	}
	if end == 0 {
		return nil, c.needMore()
	}
	err = parseRequestHead(&c.req, in[:end], &c.Limits)
	c.in.consume(end)
	c.scan.reset(true)
	c.leading = 0
	if err != nil {
		return nil, c.fail(err)
	}
	r := &c.req
	c.keepAlive, c.answered = r.KeepAlive, false
	c.body.reset(r.Framing, c.Limits.bodyBytes(), &r.Trailer)
	c.continued = r.Expect != ExpectContinue || c.body.done
	c.refused = nil
	if max := c.Limits.bodyBytes(); r.Framing.Kind == BodyLength && max >= 0 && r.Framing.Length > max {
		// A declared length over the limit: ReadBody refuses the body
		// (413) before a byte of it is read, but the head is returned, so
		// that the caller may answer in its own words first. No 100
		// Continue is owed, and the connection closes after the answer.
		c.refused = protoErr(ErrBodyTooLarge, -1)
		c.keepAlive, c.continued = false, true
	}
	if c.body.done {
		advance(serverMoves[:], &c.state, StateRespond)
	} else {
		advance(serverMoves[:], &c.state, StateBody)
	}
	return r, nil
}

// needMore reports that a head is incomplete: ErrNeedMore, or a refusal
// if the client has stopped sending.
func (c *ServerConn) needMore() error {
	if c.in.eof {
		return c.fail(protoErr(ErrTruncated, -1))
	}
	return ErrNeedMore
}

// ReadBody copies body bytes of the current request into p. It returns
// ErrNeedMore (with n == 0) when no body bytes are buffered, io.EOF at the
// end of the body, and a *ProtocolError for a malformed or oversized body.
// If NeedsContinue reports true, send AppendContinue's bytes first: the
// client is waiting for them before it sends the body.
func (c *ServerConn) ReadBody(p []byte) (int, error) {
	switch c.state {
	case StateBody:
	case StateRespond:
		return 0, io.EOF
	default:
		return 0, ErrSequence
	}
	if c.refused != nil {
		return 0, c.fail(c.refused)
	}
	n, err := c.body.fill(p, &c.in, &c.Limits)
	if err != nil {
		if !errors.Is(err, ErrNeedMore) {
			err = c.fail(err)
		}
		return n, err
	}
	if n > 0 {
		c.continued = true
	}
	if c.body.done {
		advance(serverMoves[:], &c.state, StateRespond)
		if n == 0 {
			return 0, io.EOF
		}
	}
	return n, nil
}

// TimedOut records that the client took too long. Between requests the
// connection just ends (TimedOut returns nil); inside a request, parsing
// ends with a 408 *ProtocolError, which may still be answered once.
func (c *ServerConn) TimedOut() error {
	switch c.state {
	case StateHead, StateBody, StateDrain:
		return c.fail(protoErr(ErrTimeout, -1))
	case StateIdle:
		advance(serverMoves[:], &c.state, StateClosed)
	}
	return nil
}

// NeedsContinue reports whether the client expects "100 Continue" before
// it sends the body (RFC 9110 section 10.1.1), none was sent yet, and the
// final response has not begun: no interim response may follow it.
func (c *ServerConn) NeedsContinue() bool {
	return c.state == StateBody && !c.continued && !c.streaming
}

// AppendContinue appends an interim "100 Continue" response to dst.
func (c *ServerConn) AppendContinue(dst []byte) []byte {
	c.continued = true
	return append(dst, "HTTP/1.1 100 Continue\r\n\r\n"...)
}

// KeepAlive reports whether the connection will persist after the current
// response, as things stand.
func (c *ServerConn) KeepAlive() bool { return c.keepAlive && !c.failed }

// AppendResponse appends the whole response to the current request to dst:
// status line, h's fields, the framing and Connection fields the codec
// owns, and body. A HEAD request gets the same fields, Content-Length
// included, and no body; 204 and 304 get neither Content-Length nor body.
// The connection closes after this response if either side asked, if the
// request was refused, or if its body was never read while the client
// waited for 100 Continue (its next bytes could be that body or a request).
func (c *ServerConn) AppendResponse(dst []byte, status int, h *Header, body []byte) ([]byte, error) {
	closing, err := c.mayRespond(status, h)
	if err != nil {
		return dst, err
	}
	bodyless := status == 204 || status == 304
	dst = c.appendHead(dst, status, h, closing)
	if !bodyless {
		dst = appendContentLength(dst, int64(len(body)))
	}
	dst = append(dst, "\r\n"...)
	if !bodyless && c.req.Method != MethodHead {
		dst = append(dst, body...)
	}
	c.answered = true
	c.finish(closing)
	return dst, nil
}

// AppendStreamHead appends the head of a response whose body follows in
// pieces (AppendStreamData) of a length not known yet, until
// AppendStreamEnd. The body is chunked for an HTTP/1.1 client and
// delimited by closing the connection for an HTTP/1.0 one. A HEAD request
// gets the same fields and no body. 204 and 304 have no body to stream.
func (c *ServerConn) AppendStreamHead(dst []byte, status int, h *Header) ([]byte, error) {
	closing, err := c.mayRespond(status, h)
	if err != nil || status == 204 || status == 304 {
		return dst, ErrSequence
	}
	closing = closing || c.req.Minor == 0
	dst = c.appendHead(dst, status, h, closing)
	if c.req.Minor == 1 {
		dst = append(dst, "Transfer-Encoding: chunked\r\n"...)
	}
	c.streaming, c.streamClosing = true, closing
	return append(dst, "\r\n"...), nil
}

// AppendStreamData appends p as the next piece of a streamed body.
func (c *ServerConn) AppendStreamData(dst, p []byte) []byte {
	if !c.streaming || len(p) == 0 || c.req.Method == MethodHead {
		return dst
	}
	if c.req.Minor == 0 {
		return append(dst, p...)
	}
	dst = strconv.AppendUint(dst, uint64(len(p)), 16)
	dst = append(dst, "\r\n"...)
	dst = append(dst, p...)
	return append(dst, "\r\n"...)
}

// AppendStreamEnd ends a streamed body (with the last chunk, when chunked)
// and with it the response.
func (c *ServerConn) AppendStreamEnd(dst []byte) ([]byte, error) {
	if !c.streaming {
		return dst, ErrSequence
	}
	if c.req.Minor == 1 && c.req.Method != MethodHead {
		dst = append(dst, "0\r\n\r\n"...)
	}
	c.streaming, c.answered = false, true
	c.finish(c.streamClosing)
	return dst, nil
}

// mayRespond checks that a response with this status is due now, and says
// whether the connection must close after it.
func (c *ServerConn) mayRespond(status int, h *Header) (closing bool, err error) {
	if c.answered || c.streaming || (c.state != StateBody && c.state != StateRespond && !(c.state == StateClosed && c.failed)) {
		return false, ErrSequence
	}
	if status < 200 || status > 999 {
		return false, ErrSequence
	}
	return !c.keepAlive || c.failed || !c.continued || (h != nil && h.HasToken("Connection", "close")), nil
}

// appendHead appends the status line, h's fields and the Connection field.
func (c *ServerConn) appendHead(dst []byte, status int, h *Header, closing bool) []byte {
	dst = appendStatusLine(dst, status)
	dst = appendFields(dst, h)
	if closing {
		return append(dst, "Connection: close\r\n"...)
	}
	if c.req.Minor == 0 {
		return append(dst, "Connection: keep-alive\r\n"...)
	}
	return dst
}

// finish moves on once a response is complete.
func (c *ServerConn) finish(closing bool) {
	switch {
	case c.state == StateClosed:
	case closing:
		c.keepAlive = false
		advance(serverMoves[:], &c.state, StateClosed)
	case c.state == StateBody:
		advance(serverMoves[:], &c.state, StateDrain)
	default:
		c.toIdle()
	}
}

// drain discards the rest of a body whose response has gone out.
func (c *ServerConn) drain() error {
	for !c.body.done {
		_, used, err := c.body.read(c.in.unread(), math.MaxInt, c.in.eof, &c.Limits)
		c.in.consume(used)
		if errors.Is(err, ErrNeedMore) {
			return err
		}
		if err != nil {
			return c.fail(err)
		}
	}
	c.toIdle()
	return nil
}

// toIdle ends an exchange on a persistent connection; bytes of the next
// request may be waiting already (pipelining).
func (c *ServerConn) toIdle() {
	advance(serverMoves[:], &c.state, StateIdle)
	if c.in.w > c.in.r {
		advance(serverMoves[:], &c.state, StateHead)
	}
}

// fail ends parsing after a protocol error. A refused head may still be
// answered; a refused body only if its request was not answered yet.
func (c *ServerConn) fail(err error) error {
	if c.state == StateHead {
		c.answered = false
	}
	c.failed, c.keepAlive = true, false
	advance(serverMoves[:], &c.state, StateClosed)
	return err
}
