package api_test

import (
	"bytes"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"kvhttp/api"
	"kvhttp/server"
)

// BenchmarkServePutLoop: durable PUTs of a 64-byte value over a loopback
// socket, one at a time, so that (on Linux) they are answered from the
// server's event loop: the request handed to the store without waiting,
// the answer sent once the sync is done. Like BenchmarkServePut, it times
// the commit more than the server.
func BenchmarkServePutLoop(b *testing.B) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &server.Server{Handler: api.New(boltWithKey(b), api.Options{}), Logger: slog.New(slog.DiscardHandler)}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	b.Cleanup(func() {
		srv.Close()
		<-served
	})
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Minute))
	req := []byte("PUT /kv/bench HTTP/1.1\r\nHost: kvhttp\r\nContent-Length: 64\r\n\r\n" + strings.Repeat("p", 64))
	buf := make([]byte, 4096)
	roundTrip := func() {
		if _, err := c.Write(req); err != nil {
			b.Fatal(err)
		}
		n := 0
		for !bytes.Contains(buf[:n], []byte("\r\n\r\n")) {
			k, err := c.Read(buf[n:])
			if err != nil {
				b.Fatal(err)
			}
			n += k
		}
		if !bytes.HasPrefix(buf[:n], []byte("HTTP/1.1 204 ")) {
			b.Fatalf("got %q; want a 204", buf[:n])
		}
	}
	roundTrip() // the connection joins the loop
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		roundTrip()
	}
}

// TestServePutLoopAllocs: a durable PUT answered from the event loop
// allocates only what the store keeps, as one served by a goroutine does
// (TestServePutAllocs).
func TestServePutLoopAllocs(t *testing.T) {
	checkPutAllocs(t, "PUT /kv/{key} from the loop", BenchmarkServePutLoop)
}
