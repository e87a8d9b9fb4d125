package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"kvhttp/wire"
)

// conn is one connection to the server and its codec state.
type conn struct {
	nc       net.Conn
	wc       wire.ClientConn
	out      []byte
	received int            // bytes read during the current exchange
	stop     func() bool    // ends the watch on the exchange's context
	resp     *wire.Response // the response being read
}

func (cn *conn) close() { cn.nc.Close() }

func (cn *conn) nothingReceived() bool { return cn.received == 0 }

// start sends req and reads the head of its final response, within ctx,
// which keeps governing the connection until release.
func (cn *conn) start(ctx context.Context, host string, req *Request) (*Response, error) {
	cn.received = 0
	deadline, _ := ctx.Deadline() // zero: no deadline
	if err := cn.nc.SetDeadline(deadline); err != nil {
		return nil, err
	}
	// Cancelling ctx interrupts a blocked read or write.
	cn.stop = context.AfterFunc(ctx, func() { cn.nc.SetDeadline(time.Unix(1, 0)) })
	h := req.Header
	if !h.Has("Host") {
		h.Add("Host", host)
	}
	out, err := cn.wc.AppendRequest(cn.out[:0], req.Method, req.Target, &h, req.Body)
	cn.out = out
	if err != nil {
		cn.release()
		return nil, fmt.Errorf("client: cannot encode %s %q: %w", req.Method, req.Target, err)
	}
	if _, err := cn.nc.Write(out); err != nil {
		cn.release()
		return nil, cn.fail(ctx, "write", err)
	}
	r, err := cn.next(ctx)
	for err == nil && r.Status < 200 { // interim responses carry nothing for us
		r, err = cn.next(ctx)
	}
	if err != nil {
		cn.release()
		return nil, err
	}
	cn.resp = r
	resp := &Response{Status: r.Status}
	copyHeader(&resp.Header, &r.Header)
	return resp, nil
}

// release ends the exchange's hold on the connection.
func (cn *conn) release() {
	if cn.stop != nil {
		cn.stop()
		cn.stop = nil
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
	n, err := cn.nc.Read(cn.wc.Space(16 << 10))
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
	if d, ok := ctx.Deadline(); ok && errors.As(err, &ne) && ne.Timeout() && !time.Now().Before(d) {
		return fmt.Errorf("client: %s: %w", op, context.DeadlineExceeded)
	}
	return fmt.Errorf("client: %s: %w", op, err)
}

func copyHeader(dst, src *wire.Header) {
	for name, value := range src.All() {
		dst.AddBytes(string(name), value)
	}
}

// body reads a response body as it arrives; see Client.Open.
type body struct {
	c      *Client
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
		b.c.put(b.cn)
	} else {
		b.cn.close()
	}
	return nil
}
