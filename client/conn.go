package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"time"

	"kvhttp/internal/sockio"
	"kvhttp/wire"
)

// conn is one connection to the server and its codec state.
type conn struct {
	c        *Client
	nc       net.Conn
	sock     sockio.Conn // reads and writes nc
	wc       wire.ClientConn
	out      []byte
	hdr      wire.Header    // the request's fields, and Host
	received int            // bytes read during the current exchange
	stop     func() bool    // ends the watch on the exchange's context
	resp     *wire.Response // the response being read
	noReuse  bool           // the exchange left the connection unusable
	deadline time.Time      // the exchange's own deadline (ctx's), or zero
	expectBy time.Time      // while waiting for 100 Continue: its end
	armed    time.Time      // the read deadline last set
}

func (cn *conn) close() { cn.nc.Close() }

func (cn *conn) nothingReceived() bool { return cn.received == 0 }

func (cn *conn) reusable() bool { return !cn.noReuse && cn.wc.Reusable() }

// begin puts the connection under ctx until release: its deadline bounds
// every read and write, and cancelling it interrupts them.
func (cn *conn) begin(ctx context.Context) error {
	cn.received = 0
	cn.deadline, _ = ctx.Deadline()
	cn.expectBy, cn.armed = time.Time{}, cn.deadline
	if err := cn.nc.SetDeadline(cn.deadline); err != nil {
		return err
	}
	cn.stop = context.AfterFunc(ctx, func() { cn.nc.SetDeadline(time.Unix(1, 0)) })
	return nil
}

// release ends the exchange's hold on the connection. If ctx ended
// meanwhile, its watch may still set a past deadline at any moment, on an
// exchange that is not its own: the connection is not reused.
func (cn *conn) release() {
	if cn.stop != nil && !cn.stop() {
		cn.noReuse = true
	}
	cn.stop = nil
}

// encode appends req to the pending output. If mayWait and req asks for
// 100 Continue before its body, it appends the head alone and returns true.
// The caller's Request is never modified.
func (cn *conn) encode(req *Request, mayWait bool) (waitContinue bool, err error) {
	h := &cn.hdr
	h.Reset()
	if !req.Header.Has("Host") {
		h.Add("Host", cn.c.Addr)
	}
	for name, value := range req.Header.All() {
		h.AddBytes(string(name), value)
	}
	expect := mayWait && len(req.Body) > 0 && bytes.EqualFold(h.Get("Expect"), []byte("100-continue"))
	if expect {
		cn.out, err = cn.wc.AppendRequestHead(cn.out, req.Method, req.Target, h, int64(len(req.Body)))
	} else {
		cn.out, err = cn.wc.AppendRequest(cn.out, req.Method, req.Target, h, req.Body)
	}
	if err != nil {
		return false, fmt.Errorf("client: cannot encode %s %q: %w", req.Method, req.Target, err)
	}
	return expect, nil
}

// send writes the pending output.
func (cn *conn) send(ctx context.Context) error {
	_, err := cn.sock.Write(cn.out)
	cn.out = cn.out[:0]
	if err != nil {
		return cn.fail(ctx, "write", err)
	}
	return nil
}

// start sends req and reads the head of its final response.
func (cn *conn) start(ctx context.Context, req *Request) (*Response, error) {
	if err := cn.begin(ctx); err != nil {
		return nil, err
	}
	resp, err := cn.exchange(ctx, req)
	if err != nil {
		cn.release()
	}
	return resp, err
}

func (cn *conn) exchange(ctx context.Context, req *Request) (*Response, error) {
	waitContinue, err := cn.encode(req, true)
	if err != nil {
		return nil, err
	}
	if err := cn.send(ctx); err != nil {
		return cn.earlyAnswer(ctx, err)
	}
	if waitContinue {
		r, err := cn.awaitContinue(ctx)
		if err != nil || r != nil {
			return r, err
		}
		cn.out = append(cn.out, req.Body...)
		if err := cn.send(ctx); err != nil {
			return cn.earlyAnswer(ctx, err)
		}
	}
	return cn.receive(ctx)
}

// earlyAnswer reads the response a server sent before it closed the
// connection on a request it would not take whole (a 413 for a body too
// large, say): a write that failed because the server closed (werr) does
// not mean that no answer came. Without one it returns werr.
func (cn *conn) earlyAnswer(ctx context.Context, werr error) (*Response, error) {
	if !peerClosed(werr) {
		return nil, werr
	}
	cn.noReuse = true
	r, err := cn.receive(ctx)
	if err != nil {
		return nil, werr
	}
	return r, nil
}

// peerClosed reports whether err says the server closed the connection.
func peerClosed(err error) bool {
	return errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET)
}

// awaitContinue waits up to ExpectTimeout for the server's verdict on a
// request whose body is held back (RFC 9110 section 10.1.1). It returns a
// nil response when the body should go: on 100 Continue, or when the
// server says nothing in time. A final response that comes first is the
// answer; the body is never sent, so the connection cannot be reused.
func (cn *conn) awaitContinue(ctx context.Context) (*Response, error) {
	wait := cn.c.ExpectTimeout
	if wait <= 0 {
		wait = DefaultExpectTimeout
	}
	cn.expectBy = time.Now().Add(wait)
	r, err := cn.next(ctx)
	cn.expectBy = time.Time{}
	var ne net.Error
	switch {
	case err != nil && cn.received == 0 && errors.As(err, &ne) && ne.Timeout() && ctx.Err() == nil &&
		(cn.deadline.IsZero() || time.Now().Before(cn.deadline)):
		return nil, nil // silence: send the body anyway
	case err != nil:
		return nil, err
	case r.Status == 100:
		return nil, nil
	}
	for r.Status < 200 { // another interim response, then the final one
		if r, err = cn.next(ctx); err != nil {
			return nil, err
		}
	}
	cn.noReuse = true
	return cn.head(r), nil
}

// receive reads the head of the next final response.
func (cn *conn) receive(ctx context.Context) (*Response, error) {
	r, err := cn.next(ctx)
	for err == nil && r.Status < 200 { // interim responses carry nothing for us
		r, err = cn.next(ctx)
	}
	if err != nil {
		return nil, err
	}
	return cn.head(r), nil
}

func (cn *conn) head(r *wire.Response) *Response {
	cn.resp = r
	resp := &Response{Status: r.Status}
	copyHeader(&resp.Header, &r.Header)
	return resp
}

// readAll reads the rest of the current response's body into resp.
func (cn *conn) readAll(ctx context.Context, resp *Response) error {
	buf := make([]byte, 32<<10)
	for {
		n, err := cn.readBody(ctx, buf)
		resp.Body = append(resp.Body, buf[:n]...)
		if errors.Is(err, io.EOF) {
			copyHeader(&resp.Trailer, &cn.resp.Trailer)
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// next parses the next response head, reading as needed.
func (cn *conn) next(ctx context.Context) (*wire.Response, error) {
	for {
		r, err := cn.wc.NextResponse()
		if !errors.Is(err, wire.ErrNeedMore) {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			if err != nil {
				return nil, fmt.Errorf("client: response: %w", err)
			}
			return r, nil
		}
		if err := cn.fill(ctx); err != nil {
			return nil, err
		}
	}
}

// readBody reads body bytes into p, reading from the socket as needed.
func (cn *conn) readBody(ctx context.Context, p []byte) (int, error) {
	for {
		n, err := cn.wc.ReadBody(p)
		if !errors.Is(err, wire.ErrNeedMore) {
			if err != nil && !errors.Is(err, io.EOF) {
				err = fmt.Errorf("client: response body: %w", err)
			}
			return n, err
		}
		if err := cn.fill(ctx); err != nil {
			return 0, err
		}
	}
}

func (cn *conn) fill(ctx context.Context) error {
	if err := cn.armRead(ctx); err != nil {
		return err
	}
	n, err := cn.sock.Read(cn.wc.Space(16 << 10))
	cn.wc.Received(n)
	cn.received += n
	if errors.Is(err, io.EOF) {
		cn.wc.FeedEOF()
		return nil
	}
	if err != nil && n == 0 {
		return cn.fail(ctx, "read", err)
	}
	return nil
}

// fail reports an I/O error, as ctx's error when ctx ended it. The socket
// deadline is ctx's deadline and may fire an instant before ctx's timer.
func (cn *conn) fail(ctx context.Context, op string, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("client: %s: %w", op, ctx.Err())
	}
	var ne net.Error
	if !cn.deadline.IsZero() && errors.As(err, &ne) && ne.Timeout() && !time.Now().Before(cn.deadline) {
		return fmt.Errorf("client: %s: %w", op, context.DeadlineExceeded)
	}
	return fmt.Errorf("client: %s: %w", op, err)
}

// armRead sets the read deadline for the next read: the exchange's
// deadline, the end of a wait for 100 Continue, and ReadTimeout from now,
// whichever comes first.
func (cn *conn) armRead(ctx context.Context) error {
	d := earlier(cn.deadline, cn.expectBy)
	if cn.c.ReadTimeout > 0 {
		d = earlier(d, time.Now().Add(cn.c.ReadTimeout))
	}
	if d.Equal(cn.armed) {
		return nil
	}
	cn.nc.SetReadDeadline(d)
	cn.armed = d
	// This may have replaced the past deadline that ctx's watch set when
	// ctx ended; a watch that runs later sets it after this.
	if ctx.Err() != nil {
		return cn.fail(ctx, "read", ctx.Err())
	}
	return nil
}

// earlier returns the earlier of two deadlines; zero is none.
func earlier(a, b time.Time) time.Time {
	if a.IsZero() || !b.IsZero() && b.Before(a) {
		return b
	}
	return a
}

func copyHeader(dst, src *wire.Header) {
	for name, value := range src.All() {
		dst.AddBytes(string(name), value)
	}
}

// body reads a response body as it arrives; see Client.Open.
type body struct {
	cn     *conn
	ctx    context.Context
	resp   *Response
	done   bool // read to its end
	closed bool
	err    error
}

var _ io.ReadCloser = (*body)(nil)

func (b *body) Read(p []byte) (int, error) {
	if b.closed {
		return 0, ErrClosed
	}
	if b.done || b.err != nil {
		return 0, b.errOrEOF()
	}
	n, err := b.cn.readBody(b.ctx, p)
	if errors.Is(err, io.EOF) {
		b.done = true
		copyHeader(&b.resp.Trailer, &b.cn.resp.Trailer)
	} else if err != nil {
		b.err = err
	}
	return n, err
}

func (b *body) errOrEOF() error {
	if b.err != nil {
		return b.err
	}
	return io.EOF
}

// Close ends the exchange: a body read to its end gives the connection back
// for reuse, any other closes it.
func (b *body) Close() error {
	if b.closed {
		return nil
	}
	b.closed = true
	b.cn.release()
	if b.done {
		b.cn.c.put(b.cn)
	} else {
		b.cn.close()
	}
	return nil
}
