package server

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net"
	"regexp"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// echo answers with the method, path and body it received.
var echo = HandlerFunc(func(w *ResponseWriter, r *Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return // the server answers a refused body itself
	}
	w.Header().Add("Content-Type", "text/plain")
	w.WriteString(r.Method + " " + string(r.Path) + " " + string(body))
})

// countingListener counts the writes made to the connections it accepts.
type countingListener struct {
	net.Listener
	writes atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &countingConn{Conn: c, l: l}, nil
}

type countingConn struct {
	net.Conn
	l *countingListener
}

func (c *countingConn) Write(p []byte) (int, error) {
	c.l.writes.Add(1)
	return c.Conn.Write(p)
}

func (c *countingConn) CloseWrite() error { return c.Conn.(*net.TCPConn).CloseWrite() }

// SetLinger lets the server reset the connection.
func (c *countingConn) SetLinger(sec int) error { return c.Conn.(*net.TCPConn).SetLinger(sec) }

// SyscallConn lets the server park the connection.
func (c *countingConn) SyscallConn() (syscall.RawConn, error) {
	return c.Conn.(*net.TCPConn).SyscallConn()
}

// start serves h on a loopback port; configure may adjust the server
// first. The server gets the listener's own *net.TCPConn connections, so
// it reads and writes them the way it does in production (sockio's raw
// calls on Linux).
func start(t *testing.T, h Handler, configure func(*Server)) (*Server, string) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return serveOn(t, l, h, configure), l.Addr().String()
}

// startCounting is start with connections that count the server's
// writes: they are not *net.TCPConn, so the server reads and writes them
// through their own methods.
func startCounting(t *testing.T, h Handler, configure func(*Server)) (*Server, string, *countingListener) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cl := &countingListener{Listener: l}
	return serveOn(t, cl, h, configure), l.Addr().String(), cl
}

// serveOn serves h on l until the test ends.
func serveOn(t *testing.T, l net.Listener, h Handler, configure func(*Server)) *Server {
	t.Helper()
	s := &Server{Handler: h, Logger: slog.New(slog.DiscardHandler)}
	if configure != nil {
		configure(s)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(l) }()
	t.Cleanup(func() {
		s.Close()
		if err := <-done; !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve: got %v; want %v", err, ErrServerClosed)
		}
	})
	return s
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// readFor reads until the peer closes (closed is true) or sends nothing
// for quiet.
func readFor(c net.Conn, quiet time.Duration) (data string, closed bool) {
	var buf bytes.Buffer
	b := make([]byte, 64<<10)
	for {
		c.SetReadDeadline(time.Now().Add(quiet))
		n, err := c.Read(b)
		buf.Write(b[:n])
		if err != nil {
			var ne net.Error
			return buf.String(), !(errors.As(err, &ne) && ne.Timeout())
		}
	}
}

// exchange sends raw bytes on a new connection and reads the answer.
func exchange(t *testing.T, addr, raw string, quiet time.Duration) (string, bool) {
	t.Helper()
	c := dial(t, addr)
	if _, err := c.Write([]byte(raw)); err != nil {
		t.Fatal(err)
	}
	return readFor(c, quiet)
}

var dateField = regexp.MustCompile(`Date: [A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT\r\n`)

// undate replaces the Date fields, checking their format.
func undate(s string) string { return dateField.ReplaceAllString(s, "Date: *\r\n") }
