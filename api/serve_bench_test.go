package api_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"kvhttp/api"
	"kvhttp/server"
	"kvhttp/store"
	"kvhttp/store/boltstore"
)

// memConn is one client connection in memory: each Read hands the server
// the same request bytes, until the run's requests are sent; each Write
// takes the responses to them. No sockets and no goroutines besides the
// server's, so a benchmark over it times the server's own request path.
type memConn struct {
	req     []byte
	perRead int // requests in req
	left    int // requests still to send
	want    int // responses still to receive
	ok      []byte
	bad     int
	done    chan struct{}
	closed  chan struct{}
	once    sync.Once
}

func (c *memConn) Read(p []byte) (int, error) {
	if c.left <= 0 {
		<-c.closed
		return 0, io.EOF
	}
	c.left -= c.perRead
	return copy(p, c.req), nil
}

func (c *memConn) Write(p []byte) (int, error) {
	for len(p) > 0 {
		i := bytes.Index(p, []byte("HTTP/1.1 "))
		if i < 0 {
			break
		}
		if !bytes.HasPrefix(p[i:], c.ok) {
			c.bad++
		}
		p = p[i+1:]
		if c.want--; c.want == 0 {
			close(c.done)
		}
	}
	return len(p), nil
}

func (c *memConn) Close() error {
	c.once.Do(func() { close(c.closed) })
	return nil
}

var memAddr = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}

func (c *memConn) LocalAddr() net.Addr              { return memAddr }
func (c *memConn) RemoteAddr() net.Addr             { return memAddr }
func (c *memConn) SetDeadline(time.Time) error      { return nil }
func (c *memConn) SetReadDeadline(time.Time) error  { return nil }
func (c *memConn) SetWriteDeadline(time.Time) error { return nil }

// memListener accepts one memConn, then waits to be closed.
type memListener struct {
	conn   chan net.Conn
	closed chan struct{}
	once   sync.Once
}

func (l *memListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conn:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *memListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *memListener) Addr() net.Addr { return memAddr }

// benchServe times GET /kv/{key} through the whole server (parse, route,
// store read, response written) over an in-memory connection, depth
// requests per read, over the store st holding key "bench".
func benchServe(b *testing.B, st api.Store, depth int) {
	benchServeRequest(b, st, depth, "GET /kv/bench HTTP/1.1\r\nHost: kvhttp\r\n\r\n", "HTTP/1.1 200 OK\r\n")
}

// serveBench serves the API over st on l until the benchmark ends.
func serveBench(b *testing.B, st api.Store, l net.Listener) {
	srv := &server.Server{Handler: api.New(st, api.Options{}), Logger: slog.New(slog.DiscardHandler)}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	b.Cleanup(func() {
		srv.Close()
		<-served
	})
}

// benchServeRequest times req, answered with a status line starting with
// ok, through the whole server over an in-memory connection, depth
// requests per read.
func benchServeRequest(b *testing.B, st api.Store, depth int, req, ok string) {
	l := &memListener{conn: make(chan net.Conn, 1), closed: make(chan struct{})}
	serveBench(b, st, l)

	n := (b.N + depth - 1) / depth * depth
	c := &memConn{
		req:     []byte(strings.Repeat(req, depth)),
		perRead: depth, left: n, want: n,
		ok:   []byte(ok),
		done: make(chan struct{}), closed: make(chan struct{}),
	}
	b.ReportAllocs()
	b.ResetTimer()
	l.conn <- c
	<-c.done
	b.StopTimer()
	if c.bad > 0 {
		b.Fatalf("%d responses were not %q", c.bad, ok)
	}
}

// boltWithKey opens a bbolt store holding key "bench" with a 64-byte value.
func boltWithKey(b *testing.B) api.Store {
	st, err := boltstore.Open(b.TempDir(), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	if _, err := st.Put(context.Background(), []byte("bench"), bytes.Repeat([]byte("v"), 64), nil, store.Cond{}); err != nil {
		b.Fatal(err)
	}
	return st
}

// oneKey is a store holding one item in memory, with nothing else: it
// leaves the server's and the API's own work to measure. Only Get is
// implemented.
type oneKey struct {
	api.Store
	item store.Item
}

func (s *oneKey) Get(_ context.Context, key, buf []byte) (store.Item, error) {
	it := s.item
	it.Value = append(buf[:0], s.item.Value...)
	return it, nil
}

func newOneKey() *oneKey {
	return &oneKey{item: store.Item{Key: []byte("bench"), Value: bytes.Repeat([]byte("v"), 64), Version: 42}}
}

// BenchmarkServeGet: one request per read, as a client waiting for each
// response sends them, over bbolt.
func BenchmarkServeGet(b *testing.B) { benchServe(b, boltWithKey(b), 1) }

// BenchmarkServeGetPipelined16: 16 requests per read, over bbolt.
func BenchmarkServeGetPipelined16(b *testing.B) { benchServe(b, boltWithKey(b), 16) }

// BenchmarkServePut: a durable PUT of a 64-byte value, one at a time (so
// one commit each: this times the commit more than the server).
func BenchmarkServePut(b *testing.B) {
	req := "PUT /kv/bench HTTP/1.1\r\nHost: kvhttp\r\nContent-Length: 64\r\n\r\n" + strings.Repeat("p", 64)
	benchServeRequest(b, boltWithKey(b), 1, req, "HTTP/1.1 204 ")
}

// BenchmarkServeGetMemory: one request per read over a store in memory:
// the server's and the API's share of a request.
func BenchmarkServeGetMemory(b *testing.B) { benchServe(b, newOneKey(), 1) }

// TestServeGetAllocs: a GET allocates nothing per request, through the
// whole request path (parse, route, store read, response written), over a
// store in memory and over bbolt.
func TestServeGetAllocs(t *testing.T) {
	if testing.Short() {
		t.Skip("runs benchmarks")
	}
	stores := []struct {
		name string
		open func(*testing.B) api.Store
	}{
		{"memory", func(*testing.B) api.Store { return newOneKey() }},
		{"bbolt", boltWithKey},
	}
	for _, st := range stores {
		r := testing.Benchmark(func(b *testing.B) { benchServe(b, st.open(b), 1) })
		if got := r.AllocsPerOp(); got != 0 {
			t.Errorf("GET /kv/{key} over %s: got %d allocs per request (%d B); want 0", st.name, got, r.AllocedBytesPerOp())
		}
	}
}

// TestServePutAllocs: a durable PUT allocates only what the store keeps,
// the key and the record its overlay holds until the next checkpoint;
// nothing in the server, the API or the commit's wait.
func TestServePutAllocs(t *testing.T) { checkPutAllocs(t, "PUT /kv/{key}", BenchmarkServePut) }

// checkPutAllocs runs bench, a benchmark of durable PUTs, and checks that
// a request allocates at most the store's two: the key and the record.
func checkPutAllocs(t *testing.T, what string, bench func(*testing.B)) {
	t.Helper()
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	if testing.Short() {
		t.Skip("runs benchmarks")
	}
	r := testing.Benchmark(bench)
	if got, want := r.AllocsPerOp(), int64(2); got > want {
		t.Errorf("%s: got %d allocs per request (%d B); want at most %d", what, got, r.AllocedBytesPerOp(), want)
	}
}
