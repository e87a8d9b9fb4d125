package sockio_test

import (
	"bytes"
	"errors"
	"io"
	"net"
	"runtime"
	"testing"
	"time"

	"kvhttp/internal/sockio"
)

// rawNow tells whether Conn has the raw calls, and so ReadNow and WriteNow
// move bytes, on TCP and Unix stream connections.
const rawNow = runtime.GOOS == "linux"

// nowWait bounds how long a test polls ReadNow for something that has
// been sent to arrive.
const nowWait = 5 * time.Second

// pollReadNow calls ReadNow until it returns something other than
// ErrWouldBlock, failing t if it still has not after nowWait.
func pollReadNow(t testing.TB, s *sockio.Conn, buf []byte) (int, error) {
	t.Helper()
	deadline := time.Now().Add(nowWait)
	for {
		n, err := s.ReadNow(buf)
		if !errors.Is(err, sockio.ErrWouldBlock) {
			return n, err
		}
		if time.Now().After(deadline) {
			t.Fatalf("ReadNow: got %v for %v; want what was sent", err, nowWait)
		}
		time.Sleep(time.Millisecond)
	}
}

// readNowFull reads len(want) bytes with ReadNow, in as many pieces as
// they come in buf's size, and compares them with want.
func readNowFull(t testing.TB, s *sockio.Conn, buf, want []byte) {
	t.Helper()
	var got []byte
	for len(got) < len(want) {
		n, err := pollReadNow(t, s, buf)
		if err != nil {
			t.Fatalf("ReadNow after %d bytes: got %v; want %v", len(got), err, nil)
		}
		if n <= 0 || n > len(buf) {
			t.Fatalf("ReadNow after %d bytes: got %v bytes; want 1 to %v", len(got), n, len(buf))
		}
		got = append(got, buf[:n]...)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("got %q; want %q", got, want)
	}
}

// wantWouldBlock checks that a call returned (0, ErrWouldBlock).
func wantWouldBlock(t testing.TB, what string, n int, err error) {
	t.Helper()
	if !errors.Is(err, sockio.ErrWouldBlock) {
		t.Fatalf("%s: got %v; want %v", what, err, sockio.ErrWouldBlock)
	}
	if n != 0 {
		t.Fatalf("%s: got %v bytes; want %v", what, n, 0)
	}
}

// wantClosed checks that a call on a closed connection failed, and not
// with ErrWouldBlock.
func wantClosed(t testing.TB, what string, n int, err error) {
	t.Helper()
	if err == nil || errors.Is(err, sockio.ErrWouldBlock) {
		t.Fatalf("%s: got %v; want %v", what, err, net.ErrClosed)
	}
	if !errors.Is(err, net.ErrClosed) {
		t.Fatalf("%s: got %v; want %v", what, err, net.ErrClosed)
	}
	if n != 0 {
		t.Fatalf("%s: got %v bytes; want %v", what, n, 0)
	}
}

// nowCase is one test of ReadNow or WriteNow: s reads and writes local,
// whose other end is peer.
type nowCase struct {
	name string
	run  func(t *testing.T, s *sockio.Conn, local, peer net.Conn)
}

// runNowCases runs each case on a fresh connection of each network that
// has the raw calls.
func runNowCases(t *testing.T, cases []nowCase) {
	if !rawNow {
		t.Skipf("no raw calls on %s: TestNowUnavailable", runtime.GOOS)
	}
	for _, network := range []string{"tcp", "unix"} {
		for _, tc := range cases {
			t.Run(network+"/"+tc.name, func(t *testing.T) {
				local, peer := pair(t, network)
				var s sockio.Conn
				s.Init(local)
				tc.run(t, &s, local, peer)
			})
		}
	}
}

func TestReadNow(t *testing.T) {
	hello := []byte("hello")
	runNowCases(t, []nowCase{
		{"empty", func(t *testing.T, s *sockio.Conn, local, peer net.Conn) {
			n, err := s.ReadNow(make([]byte, 10))
			wantWouldBlock(t, "ReadNow", n, err)
		}},
		{"data", func(t *testing.T, s *sockio.Conn, local, peer net.Conn) {
			if _, err := peer.Write(hello); err != nil {
				t.Fatalf("peer Write: got %v; want %v", err, nil)
			}
			readNowFull(t, s, make([]byte, 10), hello)
			n, err := s.ReadNow(make([]byte, 10))
			wantWouldBlock(t, "ReadNow once all was read", n, err)
		}},
		{"small buffer", func(t *testing.T, s *sockio.Conn, local, peer net.Conn) {
			if _, err := peer.Write(hello); err != nil {
				t.Fatalf("peer Write: got %v; want %v", err, nil)
			}
			readNowFull(t, s, make([]byte, 2), hello)
		}},
		{"past read deadline", func(t *testing.T, s *sockio.Conn, local, peer net.Conn) {
			if err := local.SetReadDeadline(time.Now().Add(-time.Hour)); err != nil {
				t.Fatalf("SetReadDeadline: got %v; want %v", err, nil)
			}
			n, err := s.ReadNow(make([]byte, 10))
			wantWouldBlock(t, "ReadNow with nothing sent", n, err)
			if _, err := peer.Write(hello); err != nil {
				t.Fatalf("peer Write: got %v; want %v", err, nil)
			}
			readNowFull(t, s, make([]byte, 10), hello)
		}},
		{"peer closed", func(t *testing.T, s *sockio.Conn, local, peer net.Conn) {
			peer.Close()
			buf := make([]byte, 10)
			for i := range 2 { // and again once the end was seen
				if n, err := pollReadNow(t, s, buf); n != 0 || !errors.Is(err, io.EOF) {
					t.Fatalf("ReadNow %d after the peer closed: got %v, %v; want %v, %v", i, n, err, 0, io.EOF)
				}
			}
		}},
		{"data then peer closed", func(t *testing.T, s *sockio.Conn, local, peer net.Conn) {
			if _, err := peer.Write(hello); err != nil {
				t.Fatalf("peer Write: got %v; want %v", err, nil)
			}
			peer.Close()
			buf := make([]byte, 10)
			readNowFull(t, s, buf, hello)
			if n, err := pollReadNow(t, s, buf); n != 0 || !errors.Is(err, io.EOF) {
				t.Fatalf("ReadNow after the data: got %v, %v; want %v, %v", n, err, 0, io.EOF)
			}
		}},
		{"closed", func(t *testing.T, s *sockio.Conn, local, peer net.Conn) {
			if _, err := peer.Write(hello); err != nil {
				t.Fatalf("peer Write: got %v; want %v", err, nil)
			}
			local.Close()
			n, err := s.ReadNow(make([]byte, 10))
			wantClosed(t, "ReadNow after Close", n, err)
		}},
	})
}

func TestWriteNow(t *testing.T) {
	runNowCases(t, []nowCase{
		{"past write deadline", func(t *testing.T, s *sockio.Conn, local, peer net.Conn) {
			if err := local.SetWriteDeadline(time.Now().Add(-time.Hour)); err != nil {
				t.Fatalf("SetWriteDeadline: got %v; want %v", err, nil)
			}
			msg := []byte("hello")
			if n, err := s.WriteNow(msg); n != len(msg) || err != nil {
				t.Fatalf("WriteNow: got %v, %v; want %v, %v", n, err, len(msg), nil)
			}
			peer.SetReadDeadline(time.Now().Add(nowWait))
			got := make([]byte, len(msg))
			if _, err := io.ReadFull(peer, got); err != nil {
				t.Fatalf("peer ReadFull: got %v; want %v", err, nil)
			}
			if !bytes.Equal(got, msg) {
				t.Fatalf("peer read: got %q; want %q", got, msg)
			}
		}},
		{"full buffer", func(t *testing.T, s *sockio.Conn, local, peer net.Conn) {
			// The peer never reads until the end, and 64 MiB is far more
			// than both ends' socket buffers hold.
			big := bytes.Repeat([]byte("0123456789abcde\n"), 64<<20/16)
			written := 0
			var err error
			for i := 0; ; i++ {
				if i == 1000 {
					t.Fatalf("WriteNow: got %v bytes written by %v calls and no %v; want %v", written, i, sockio.ErrWouldBlock, sockio.ErrWouldBlock)
				}
				rest := big[written:]
				var n int
				n, err = s.WriteNow(rest)
				if n < 0 || n > len(rest) {
					t.Fatalf("WriteNow of %d bytes: got %v bytes; want 0 to %v", len(rest), n, len(rest))
				}
				written += n
				if err != nil {
					if n >= len(rest) {
						t.Fatalf("WriteNow of %d bytes with %v: got %v bytes; want fewer", len(rest), err, n)
					}
					break
				}
				if n != len(rest) {
					t.Fatalf("WriteNow of %d bytes with no error: got %v bytes; want %v", len(rest), n, len(rest))
				}
				if written == len(big) {
					t.Fatalf("WriteNow: got all %v bytes written; want %v first", written, sockio.ErrWouldBlock)
				}
			}
			if !errors.Is(err, sockio.ErrWouldBlock) {
				t.Fatalf("WriteNow: got %v; want %v", err, sockio.ErrWouldBlock)
			}
			if written <= 0 || written >= len(big) {
				t.Fatalf("WriteNow: got %v bytes written; want some, not all %v", written, len(big))
			}
			// The peer reads exactly what WriteNow said it wrote.
			if err := local.(interface{ CloseWrite() error }).CloseWrite(); err != nil {
				t.Fatalf("CloseWrite: got %v; want %v", err, nil)
			}
			peer.SetReadDeadline(time.Now().Add(30 * time.Second))
			got, err := io.ReadAll(peer)
			if err != nil {
				t.Fatalf("peer ReadAll after %d bytes: got %v; want %v", len(got), err, nil)
			}
			if len(got) != written {
				t.Fatalf("peer read: got %v bytes; want %v", len(got), written)
			}
			if !bytes.Equal(got, big[:written]) {
				t.Fatalf("peer read: got %v bytes that differ from the %v written", len(got), written)
			}
		}},
		{"closed", func(t *testing.T, s *sockio.Conn, local, peer net.Conn) {
			local.Close()
			n, err := s.WriteNow([]byte("hello"))
			wantClosed(t, "WriteNow after Close", n, err)
		}},
	})
}

// Where the raw calls are not available, as on net.Pipe (and on every
// connection off Linux), ReadNow and WriteNow move nothing.
func TestNowUnavailable(t *testing.T) {
	unavailable := []string{"pipe"}
	if !rawNow {
		unavailable = []string{"tcp", "unix", "pipe"}
	}
	for _, network := range unavailable {
		t.Run(network, func(t *testing.T) {
			local, peer := pair(t, network)
			var s sockio.Conn
			s.Init(local)
			// Something to read, which ReadNow must leave. A pipe's Write
			// waits for a reader: it ends when the test's cleanup closes
			// the pipe.
			go peer.Write([]byte("hello"))
			tests := []struct {
				name string
				call func([]byte) (int, error)
			}{
				{"ReadNow", s.ReadNow},
				{"WriteNow", s.WriteNow},
			}
			for _, tc := range tests {
				t.Run(tc.name, func(t *testing.T) {
					n, err := tc.call(make([]byte, 10))
					wantWouldBlock(t, tc.name, n, err)
				})
			}
		})
	}
}
