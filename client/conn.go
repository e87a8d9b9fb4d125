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
	received int // bytes read during the current exchange
}

func (cn *conn) close() { cn.nc.Close() }

func (cn *conn) nothingReceived() bool { return cn.received == 0 }

// roundTrip writes req and reads its response, within ctx.
func (cn *conn) roundTrip(ctx context.Context, host string, req *Request) (*Response, error) {
	cn.received = 0
	deadline, _ := ctx.Deadline() // zero: no deadline
	if err := cn.nc.SetDeadline(deadline); err != nil {
		return nil, err
	}
	// Cancelling ctx interrupts a blocked read or write.
	stop := context.AfterFunc(ctx, func() { cn.nc.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	h := req.Header
	if !h.Has("Host") {
		h.Add("Host", host)
	}
	out, err := cn.wc.AppendRequest(cn.out[:0], req.Method, req.Target, &h, req.Body)
	cn.out = out
	if err != nil {
		return nil, fmt.Errorf("client: cannot encode %s %q: %w", req.Method, req.Target, err)
	}
	if _, err := cn.nc.Write(out); err != nil {
		return nil, cn.fail(ctx, "write", err)
	}
	r, err := cn.next(ctx, cn.wc.NextResponse)
	for err == nil && r.Status < 200 { // interim responses carry nothing for us
		r, err = cn.next(ctx, cn.wc.NextResponse)
	}
	if err != nil {
		return nil, err
	}
	resp := &Response{Status: r.Status}
	copyHeader(&resp.Header, &r.Header)
	buf := make([]byte, 32<<10)
	for {
		n, err := cn.read(ctx, func() (int, error) { return cn.wc.ReadBody(buf) })
		resp.Body = append(resp.Body, buf[:n]...)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	copyHeader(&resp.Trailer, &r.Trailer)
	return resp, nil
}

// next parses the next response head, reading as needed.
func (cn *conn) next(ctx context.Context, parse func() (*wire.Response, error)) (*wire.Response, error) {
	for {
		r, err := parse()
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

// read runs a body read, reading from the socket as needed.
func (cn *conn) read(ctx context.Context, body func() (int, error)) (int, error) {
	for {
		n, err := body()
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
