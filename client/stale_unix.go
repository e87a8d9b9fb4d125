//go:build unix

package client

import (
	"errors"
	"syscall"
)

// stale reports whether the server sent something while the connection
// sat idle: its close, or bytes no request asked for (a 408 as it drops
// the connection, say). Either way no new request may go on it. It peeks
// without blocking; a connection that does not expose its socket (a
// wrapper from Client.Dial) is taken as it is.
func (cn *conn) stale() bool {
	sc, ok := cn.nc.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return true
	}
	stale := true
	err = rc.Read(func(fd uintptr) bool {
		var b [1]byte
		n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		stale = n > 0 || !errors.Is(err, syscall.EAGAIN) // n == 0 and no error: the close
		return true
	})
	return stale || err != nil
}
