// Package sockio reads and writes a connection's socket with system calls
// that do not go through the Go scheduler's blocking-call path, while still
// waiting in Go's network poller, with the connection's deadlines, when
// the socket is not ready.
//
// A socket in Go's poller is non-blocking: a read or write either moves
// bytes at once or fails with EAGAIN, and then the poller waits. Go still
// makes each such call as one that may block (syscall.Syscall): the
// goroutine's processor is marked as in a system call, the runtime's
// monitor thread is woken if it was asleep, and it hands the processor to
// another thread if the call lasts over 20 us (on loopback, a write also
// carries the receiver's side of TCP and can). A server answering small
// requests pays that on every read and write; on a two-core VM, making
// the calls raw cut a keyed GET's CPU by about a tenth and the monitor
// thread's wake-ups from thousands a second to tens (docs/PERFORMANCE.md). A call that cannot block needs none of it: gVisor's
// netstack, for one, makes its non-blocking descriptor I/O the same way
// (syscall.RawSyscall).
//
// Conn does so for TCP and Unix stream connections on Linux, through
// syscall.RawConn (which holds the descriptor open during the call and
// waits in the poller on EAGAIN), and falls back to the connection's own
// Read and Write everywhere else.
package sockio

import (
	"errors"
	"io"
	"net"
	"os"
	"syscall"
)

// Conn reads and writes one connection. The zero value is not usable: call
// Init. Like a net.Conn, it allows one Read and one Write at a time, which
// may run concurrently with each other.
type Conn struct {
	_  noCopy // its callbacks point at it: a copy would not work
	nc net.Conn
	rc syscall.RawConn // nil: nc's own Read and Write

	// Read's and Write's state for their callbacks, which are made once
	// in Init so that a call allocates nothing.
	rbuf    []byte
	rn      int
	rerr    error
	readFn  func(fd uintptr) bool
	wbuf    []byte
	wn      int
	werr    error
	writeFn func(fd uintptr) bool
	// ReadNow's and WriteNow's callbacks, for RawConn.Control.
	readNowFn  func(fd uintptr)
	writeNowFn func(fd uintptr)
}

// ErrWouldBlock is returned by ReadNow when nothing is ready to read, and
// by WriteNow when the socket's buffer is full.
var ErrWouldBlock = errors.New("sockio: would block")

// Init makes c read and write nc.
func (c *Conn) Init(nc net.Conn) {
	*c = Conn{nc: nc}
	c.rc = rawConn(nc)
	if c.rc != nil {
		c.readFn = c.readOnce
		c.writeFn = c.writeAll
		c.readNowFn = c.readNow
		c.writeNowFn = c.writeNow
	}
}

// Raw reports whether c makes the raw calls, so that ReadNow and WriteNow
// move bytes.
func (c *Conn) Raw() bool { return c.rc != nil }

// ReadNow reads into p what has arrived, without waiting: ErrWouldBlock if
// nothing has, io.EOF once the peer has closed its side. Unlike Read it
// ignores the read deadline, so that an event loop may call it on a
// socket whose deadline was left behind. Where the raw calls are not
// available it always returns ErrWouldBlock.
func (c *Conn) ReadNow(p []byte) (int, error) {
	if c.rc == nil || len(p) == 0 {
		return 0, ErrWouldBlock
	}
	c.rbuf, c.rn, c.rerr = p, 0, nil
	err := c.rc.Control(c.readNowFn)
	n, rerr := c.rn, c.rerr
	c.rbuf, c.rerr = nil, nil
	switch {
	case err != nil:
		return 0, err // closed
	case rerr != nil:
		return 0, rerr
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}

// WriteNow writes what of p fits in the socket's buffer, without waiting:
// n < len(p) with ErrWouldBlock when not all of it did. It ignores the
// write deadline, as ReadNow ignores the read deadline. Where the raw
// calls are not available it writes nothing and returns ErrWouldBlock.
func (c *Conn) WriteNow(p []byte) (int, error) {
	if c.rc == nil || len(p) == 0 {
		return 0, ErrWouldBlock
	}
	c.wbuf, c.wn, c.werr = p, 0, nil
	err := c.rc.Control(c.writeNowFn)
	n, werr := c.wn, c.werr
	c.wbuf, c.werr = nil, nil
	if err == nil {
		err = werr
	}
	return n, err
}

// ReadFD is ReadNow on a bare non-blocking socket descriptor, one outside
// Go's poller (its owner must keep it open during the call).
func ReadFD(fd int, p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for {
		n, errno := rawRead(uintptr(fd), p)
		switch errno {
		case 0:
			if n == 0 {
				return 0, io.EOF
			}
			return n, nil
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return 0, ErrWouldBlock
		}
		return 0, os.NewSyscallError("read", errno)
	}
}

// WriteFD is WriteNow on a bare non-blocking socket descriptor, as ReadFD.
func WriteFD(fd int, p []byte) (int, error) {
	written := 0
	for written < len(p) {
		n, errno := rawWrite(uintptr(fd), p[written:])
		switch {
		case errno == syscall.EINTR:
			continue
		case errno == syscall.EAGAIN:
			return written, ErrWouldBlock
		case errno != 0:
			return written, os.NewSyscallError("write", errno)
		case n == 0:
			return written, io.ErrUnexpectedEOF
		}
		written += n
	}
	return written, nil
}

// readNow is ReadNow's callback: ReadFD, its errors wrapped as Read's.
func (c *Conn) readNow(fd uintptr) {
	var err error
	c.rn, err = ReadFD(int(fd), c.rbuf)
	switch {
	case err == nil:
	case errors.Is(err, ErrWouldBlock):
		c.rerr = ErrWouldBlock
	case errors.Is(err, io.EOF):
		c.rn = 0 // ReadNow reports the end
	default:
		c.rerr = c.opError("read", err)
	}
}

// writeNow is WriteNow's callback: WriteFD, its errors wrapped as
// Write's.
func (c *Conn) writeNow(fd uintptr) {
	var err error
	c.wn, err = WriteFD(int(fd), c.wbuf)
	switch {
	case err == nil:
	case errors.Is(err, ErrWouldBlock):
		c.werr = ErrWouldBlock
	default:
		c.werr = c.opError("write", err)
	}
}

// Read reads into p, as net.Conn's Read does: it waits until some bytes
// arrive or the read deadline passes, and returns io.EOF once the peer has
// closed its side.
func (c *Conn) Read(p []byte) (int, error) {
	if c.rc == nil || len(p) == 0 {
		return c.nc.Read(p)
	}
	c.rbuf, c.rn, c.rerr = p, 0, nil
	err := c.rc.Read(c.readFn)
	n, rerr := c.rn, c.rerr
	c.rbuf, c.rerr = nil, nil
	if err != nil {
		return 0, err // closed, or the deadline passed: from the poller
	}
	if rerr != nil {
		return 0, c.opError("read", rerr)
	}
	if n == 0 {
		return 0, io.EOF
	}
	return n, nil
}

// Write writes all of p, as net.Conn's Write does, waiting for room in
// the socket's buffer until the write deadline passes.
func (c *Conn) Write(p []byte) (int, error) {
	if c.rc == nil || len(p) == 0 {
		return c.nc.Write(p)
	}
	c.wbuf, c.wn, c.werr = p, 0, nil
	err := c.rc.Write(c.writeFn)
	n, werr := c.wn, c.werr
	c.wbuf, c.werr = nil, nil
	if err == nil && werr != nil {
		err = c.opError("write", werr)
	}
	return n, err
}

// opError wraps a failed call's error as net.Conn's methods do.
func (c *Conn) opError(op string, err error) error {
	return &net.OpError{Op: op, Net: c.nc.LocalAddr().Network(), Source: c.nc.LocalAddr(), Addr: c.nc.RemoteAddr(), Err: err}
}

// readOnce is Read's callback: one read, or false to wait in the poller.
func (c *Conn) readOnce(fd uintptr) bool {
	for {
		n, errno := rawRead(fd, c.rbuf)
		switch errno {
		case 0:
			c.rn = n
			return true
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false
		}
		c.rerr = os.NewSyscallError("read", errno)
		return true
	}
}

// writeAll is Write's callback: writes until all is written, or false to
// wait in the poller for room.
func (c *Conn) writeAll(fd uintptr) bool {
	for c.wn < len(c.wbuf) {
		n, errno := rawWrite(fd, c.wbuf[c.wn:])
		switch {
		case errno == syscall.EINTR:
			continue
		case errno == syscall.EAGAIN:
			return false
		case errno != 0:
			c.werr = os.NewSyscallError("write", errno)
			return true
		case n == 0:
			c.werr = io.ErrUnexpectedEOF
			return true
		}
		c.wn += n
	}
	return true
}

// noCopy makes go vet's copylocks check report a Conn copied after use.
type noCopy struct{}

func (*noCopy) Lock()   {}
func (*noCopy) Unlock() {}
