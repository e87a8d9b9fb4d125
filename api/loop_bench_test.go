package api_test

import (
	"bytes"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"kvhttp/api"
	"kvhttp/store/boltstore"
)

// BenchmarkServePutLoop: durable PUTs of a 64-byte value over a loopback
// socket, one at a time, so that (on Linux) they are answered from the
// server's event loop: the request handed to the store without waiting,
// the answer sent once the sync is done. Like BenchmarkServePut, it times
// the commit more than the server.
func BenchmarkServePutLoop(b *testing.B) {
	benchLoop(b, boltWithKey(b), loopPut, "HTTP/1.1 204 ", "\r\n\r\n")
}

// BenchmarkServeGetLoop: GETs of a 64-byte value the store holds in
// memory (written moments before), one at a time, answered from the
// server's event loop without a goroutine.
func BenchmarkServeGetLoop(b *testing.B) {
	benchLoop(b, boltWithKey(b), "GET /kv/bench HTTP/1.1\r\nHost: kvhttp\r\n\r\n", "HTTP/1.1 200 ", loopValue)
}

// loopValue is the value loopPut writes.
var loopValue = strings.Repeat("p", 64)

// loopPut is a durable PUT of /kv/bench: its answer, from the loop, brings
// the connection there.
var loopPut = "PUT /kv/bench HTTP/1.1\r\nHost: kvhttp\r\nContent-Length: 64\r\n\r\n" + loopValue

// benchLoop serves st over a loopback socket, sends loopPut, so that the
// connection joins the event loop, and then times req, one at a time;
// each response must start with status and end with end.
func benchLoop(b *testing.B, st api.Store, req, status, end string) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	serveBench(b, st, l)
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Minute))
	buf := make([]byte, 4096)
	roundTrip := func(req []byte, status, end string) {
		if _, err := c.Write(req); err != nil {
			b.Fatal(err)
		}
		n := 0
		for !bytes.Contains(buf[:n], []byte("\r\n\r\n")) || !bytes.HasSuffix(buf[:n], []byte(end)) {
			k, err := c.Read(buf[n:])
			if err != nil {
				b.Fatal(err)
			}
			n += k
		}
		if !bytes.HasPrefix(buf[:n], []byte(status)) {
			b.Fatalf("got %q; want %s...", buf[:n], status)
		}
	}
	roundTrip([]byte(loopPut), "HTTP/1.1 204 ", "\r\n\r\n") // the connection joins the loop
	r := []byte(req)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		roundTrip(r, status, end)
	}
}

// TestServePutLoopAllocs: a durable PUT answered from the event loop
// allocates only what the store keeps, as one served by a goroutine does
// (TestServePutAllocs).
func TestServePutLoopAllocs(t *testing.T) {
	checkPutAllocs(t, "PUT /kv/{key} from the loop", BenchmarkServePutLoop)
}

// TestServeGetLoopAllocs: a GET answered from the event loop, out of the
// store's memory, allocates nothing, as one served by a goroutine does
// (TestServeGetAllocs); and the loop did answer it.
func TestServeGetLoopAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	if testing.Short() {
		t.Skip("runs benchmarks")
	}
	var st *countingStore
	r := testing.Benchmark(func(b *testing.B) {
		st = &countingStore{Store: boltWithKey(b).(*boltstore.Store)}
		benchLoop(b, st, "GET /kv/bench HTTP/1.1\r\nHost: kvhttp\r\n\r\n", "HTTP/1.1 200 ", loopValue)
	})
	if got := r.AllocsPerOp(); got != 0 {
		t.Errorf("GET /kv/{key} from the loop: got %d allocs per request (%d B); want 0", got, r.AllocedBytesPerOp())
	}
	if runtime.GOOS == "linux" && st.memory.Load() == 0 { // the loop is Linux's
		t.Error("GETs answered from memory on the loop: got 0; want every one")
	}
}
