package main

import (
	"bytes"
	"context"
	"net"
	"strings"
	"sync"
)

// withNewline ends s with a line break if it does not end with one.
func withNewline(s string) string {
	if strings.HasSuffix(s, "\n") {
		return s
	}
	return s + "\n"
}

// wiretap records the bytes of the connections it dials.
type wiretap struct {
	mu             sync.Mutex
	sent, received bytes.Buffer
}

func (w *wiretap) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return &tappedConn{Conn: c, w: w}, nil
}

// take returns and clears what was recorded.
func (w *wiretap) take() (sent, received string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	sent, received = w.sent.String(), w.received.String()
	w.sent.Reset()
	w.received.Reset()
	return sent, received
}

type tappedConn struct {
	net.Conn
	w *wiretap
}

func (c *tappedConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.record(&c.w.sent, p[:n])
	return n, err
}

func (c *tappedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.record(&c.w.received, p[:n])
	return n, err
}

func (c *tappedConn) record(b *bytes.Buffer, p []byte) {
	c.w.mu.Lock()
	b.Write(p)
	c.w.mu.Unlock()
}

var _ net.Conn = (*tappedConn)(nil)
