//go:build !race

// Not under the race detector, whose instrumentation of the calls'
// package syscall path is no part of what this guards.

package sockio_test

import (
	"errors"
	"runtime"
	"testing"

	"kvhttp/internal/sockio"
)

func TestNowAllocs(t *testing.T) {
	if !rawNow {
		t.Skipf("no raw calls on %s", runtime.GOOS)
	}
	a, b := pair(t, "tcp")
	var sa, sb sockio.Conn
	sa.Init(a)
	sb.Init(b)
	msg := []byte("GET /kv/a HTTP/1.1\r\nHost: x\r\n\r\n")
	buf := make([]byte, 4096)
	allocs := testing.AllocsPerRun(100, func() {
		if n, err := sa.WriteNow(msg); n != len(msg) || err != nil {
			t.Fatalf("WriteNow: got %v, %v; want %v, %v", n, err, len(msg), nil)
		}
		for got := 0; got < len(msg); {
			n, err := pollReadNow(t, &sb, buf)
			if err != nil {
				t.Fatalf("ReadNow: got %v; want %v", err, nil)
			}
			got += n
		}
		// And once all is read, ErrWouldBlock.
		if _, err := sb.ReadNow(buf); !errors.Is(err, sockio.ErrWouldBlock) {
			t.Fatalf("ReadNow: got %v; want %v", err, sockio.ErrWouldBlock)
		}
	})
	if allocs != 0 {
		t.Fatalf("got %v allocations per WriteNow and ReadNow; want %v", allocs, 0)
	}
}
