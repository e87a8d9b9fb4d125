package sockio

import (
	"errors"
	"net"
	"syscall"
	"unsafe"
)

// rawConn returns nc's descriptor access if nc is a stream socket in Go's
// poller (so non-blocking: net's sockets always are, and the raw calls
// rely on it, since they hold their processor while in the kernel), else
// nil.
func rawConn(nc net.Conn) syscall.RawConn {
	var sc syscall.Conn
	switch t := nc.(type) {
	case *net.TCPConn:
		sc = t
	case *net.UnixConn:
		if t.LocalAddr().Network() != "unix" {
			return nil // datagrams: a read of an empty one is not EOF
		}
		sc = t
	default:
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return rc
}

// rawRead and rawWrite are read(2) and write(2) on a non-blocking
// descriptor, which return at once: no need to tell the scheduler.
func rawRead(fd uintptr, p []byte) (int, syscall.Errno)  { return rawIO(syscall.SYS_READ, fd, p) }
func rawWrite(fd uintptr, p []byte) (int, syscall.Errno) { return rawIO(syscall.SYS_WRITE, fd, p) }

func rawIO(trap, fd uintptr, p []byte) (int, syscall.Errno) {
	if raceEnabled {
		var n int
		var err error
		if trap == syscall.SYS_READ {
			n, err = syscall.Read(int(fd), p)
		} else {
			n, err = syscall.Write(int(fd), p)
		}
		e, _ := errors.AsType[syscall.Errno](err) // syscall's are Errno or nil
		return n, e
	}
	r, _, e := syscall.RawSyscall(trap, fd, uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
	return int(r), e
}
