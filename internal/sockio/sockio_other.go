//go:build !linux

package sockio

import (
	"net"
	"syscall"
)

// rawConn returns nil: elsewhere, Conn uses the connection's own Read and
// Write.
func rawConn(net.Conn) syscall.RawConn { return nil }

func rawRead(uintptr, []byte) (int, syscall.Errno)  { return 0, syscall.EINVAL }
func rawWrite(uintptr, []byte) (int, syscall.Errno) { return 0, syscall.EINVAL }
