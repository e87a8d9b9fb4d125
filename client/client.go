package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"kvhttp/wire"
)

// Defaults for a zero Client.
const (
	DefaultMaxIdleConns  = 4                // idle connections kept
	DefaultDialTimeout   = 10 * time.Second // to connect
	DefaultExpectTimeout = time.Second      // to wait for 100 Continue
)

// DefaultMaxBodyBytes bounds response bodies when Limits.MaxBodyBytes is 0.
const DefaultMaxBodyBytes = 64 << 20

// ErrClosed is returned by calls on a closed Client.
var ErrClosed = errors.New("client: closed")

// Client sends requests to the server at Addr. Its zero value (with Addr
// set) is ready to use; it is safe for concurrent use.
type Client struct {
	// Addr is the server's host:port, also sent as the Host field.
	Addr string
	// Dial opens connections; nil means a net.Dialer. Tests and tools
	// that show the bytes on the wire wrap the connections here.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// MaxIdleConns caps the idle connections kept for reuse.
	MaxIdleConns int
	// DialTimeout bounds connecting; the call's context may cut it shorter.
	DialTimeout time.Duration
	// ReadTimeout, if set, bounds each wait for bytes of a response (a
	// stalled server), whatever the call's context allows in all.
	ReadTimeout time.Duration
	// ExpectTimeout bounds the wait for "100 Continue" after a request
	// head with "Expect: 100-continue"; then the body goes anyway.
	ExpectTimeout time.Duration
	// Limits bound what a server may send back.
	Limits wire.Limits

	mu     sync.Mutex
	idle   []*conn
	closed bool
}

// Request is a request to send.
type Request struct {
	Method string      // e.g. wire.MethodGet
	Target string      // origin-form: path and query, e.g. "/create"
	Header wire.Header // fields besides Host, Content-Length and Connection
	Body   []byte
}

// Response is a response received. It owns its memory.
type Response struct {
	Status  int
	Header  wire.Header
	Trailer wire.Header
	Body    []byte
}

// Do sends req and reads the whole response. A response with any status
// is returned without error; errors are about the exchange itself.
func (c *Client) Do(ctx context.Context, req *Request) (*Response, error) {
	resp, body, err := c.Open(ctx, req)
	if err != nil {
		return nil, err
	}
	defer body.Close()
	if resp.Body, err = io.ReadAll(body); err != nil {
		return nil, err
	}
	return resp, nil
}

// Open sends req and returns the head of the response, with its body to be
// read as it arrives (resp.Body stays nil; resp.Trailer is filled once the
// body has been read to its end). ctx governs the whole exchange, reading
// the body included. The caller must close the body: one read to its end
// gives the connection back for reuse.
func (c *Client) Open(ctx context.Context, req *Request) (*Response, io.ReadCloser, error) {
	for attempt := 0; ; attempt++ {
		cn, reused, err := c.get(ctx, attempt > 0)
		if err != nil {
			return nil, nil, err
		}
		resp, err := cn.start(ctx, req)
		if err == nil {
			return resp, &body{cn: cn, ctx: ctx, resp: resp}, nil
		}
		cn.close()
		// A reused connection may have been closed by the server while
		// idle: retry on a new one, if the request may be repeated, the
		// failure says the server closed (not that it was slow: then it
		// has the request) and nothing of its answer arrived.
		if reused && attempt == 0 && cn.nothingReceived() && idempotent(req.Method) && ctx.Err() == nil && peerClosed(err) {
			continue
		}
		return nil, nil, err
	}
}

// idempotent reports whether a method may be repeated (RFC 9110 9.2.2).
func idempotent(method string) bool {
	switch method {
	case wire.MethodGet, wire.MethodHead, wire.MethodPut, wire.MethodDelete, wire.MethodOptions, wire.MethodTrace:
		return true
	}
	return false
}

// get returns an idle connection, unless fresh, or dials a new one. An
// idle connection on which the server sent something meanwhile (its
// close, or bytes nobody asked for) is closed, not used.
func (c *Client) get(ctx context.Context, fresh bool) (*conn, bool, error) {
	for {
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return nil, false, ErrClosed
		}
		n := len(c.idle)
		if fresh || n == 0 {
			c.mu.Unlock()
			break
		}
		cn := c.idle[n-1]
		c.idle = c.idle[:n-1]
		c.mu.Unlock()
		if !cn.stale() {
			return cn, true, nil
		}
		cn.close()
	}
	dial := c.Dial
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	dctx, cancel := context.WithTimeout(ctx, durationOr(c.DialTimeout, DefaultDialTimeout))
	defer cancel()
	nc, err := dial(dctx, "tcp", c.Addr)
	if err != nil {
		return nil, false, fmt.Errorf("client: %w", err)
	}
	cn := &conn{c: c, nc: nc}
	cn.sock.Init(nc)
	cn.wc.Limits = c.Limits
	if cn.wc.Limits.MaxBodyBytes == 0 {
		cn.wc.Limits.MaxBodyBytes = DefaultMaxBodyBytes
	}
	return cn, false, nil
}

// put keeps a connection for reuse if it can take another request.
func (c *Client) put(cn *conn) {
	max := c.MaxIdleConns
	if max <= 0 {
		max = DefaultMaxIdleConns
	}
	c.mu.Lock()
	if cn.reusable() && !c.closed && len(c.idle) < max {
		c.idle = append(c.idle, cn)
		cn = nil
	}
	c.mu.Unlock()
	if cn != nil {
		cn.close()
	}
}

// Close closes the idle connections; calls in progress finish first.
// Later calls fail with ErrClosed.
func (c *Client) Close() error {
	c.mu.Lock()
	idle := c.idle
	c.idle, c.closed = nil, true
	c.mu.Unlock()
	for _, cn := range idle {
		cn.close()
	}
	return nil
}

func durationOr(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}
