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
func rawRead(fd uintptr, p []byte) (int, syscall.Errno) {
	if raceEnabled {
		n, err := syscall.Read(int(fd), p)
		return n, errnoOf(err)
	}
	r, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
	return int(r), e
}

func rawWrite(fd uintptr, p []byte) (int, syscall.Errno) {
	if raceEnabled {
		n, err := syscall.Write(int(fd), p)
		return n, errnoOf(err)
	}
	r, _, e := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
	return int(r), e
}

// errnoOf returns err, which package syscall's calls return as an Errno
// or nil, as an Errno.
func errnoOf(err error) syscall.Errno {
	e, _ := errors.AsType[syscall.Errno](err)
	return e
}
