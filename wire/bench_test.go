package wire

import (
	"testing"
)

// typicalGet is a GET with six header fields, as curl or a browser sends.
const typicalGet = "GET /kv/user:1001 HTTP/1.1\r\n" +
	"Host: 127.0.0.1:10000\r\n" +
	"User-Agent: curl/8.5.0\r\n" +
	"Accept: */*\r\n" +
	"Accept-Encoding: gzip, deflate\r\n" +
	"Connection: keep-alive\r\n" +
	"X-Request-Id: 7f3e9c2a-5b1d-4e8f-9a6c-2d4b8e1f0a3c\r\n\r\n"

// parseOnce runs one request through c: parse, empty body, response.
func parseOnce(c *ServerConn, in, out []byte, h *Header) []byte {
	c.Feed(in)
	r, err := c.NextRequest()
	if err != nil || len(r.Path) == 0 {
		panic(err)
	}
	out, err = c.AppendResponse(out[:0], 200, h, nil)
	if err != nil {
		panic(err)
	}
	return out
}

func BenchmarkParseRequest(b *testing.B) {
	c, in, out := &ServerConn{}, []byte(typicalGet), make([]byte, 0, 512)
	b.ReportAllocs()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		out = parseOnce(c, in, out, nil)
	}
}

func BenchmarkParsePipelined16(b *testing.B) {
	var batch []byte
	for range 16 {
		batch = append(batch, typicalGet...)
	}
	c, out := &ServerConn{}, make([]byte, 0, 4096)
	b.ReportAllocs()
	b.SetBytes(int64(len(batch)))
	for b.Loop() {
		c.Feed(batch)
		out = out[:0]
		for range 16 {
			if _, err := c.NextRequest(); err != nil {
				b.Fatal(err)
			}
			out, _ = c.AppendResponse(out, 200, nil, nil)
		}
	}
}

func BenchmarkChunkedBody(b *testing.B) {
	in := []byte(chunked("400\r\n" + string(make([]byte, 1024)) + "\r\n400\r\n" + string(make([]byte, 1024)) + "\r\n0\r\n\r\n"))
	c, buf, out := &ServerConn{}, make([]byte, 4096), make([]byte, 0, 512)
	b.ReportAllocs()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		c.Feed(in)
		if _, err := c.NextRequest(); err != nil {
			b.Fatal(err)
		}
		for {
			if _, err := c.ReadBody(buf); err != nil {
				break
			}
		}
		out, _ = c.AppendResponse(out[:0], 200, nil, nil)
	}
}

func BenchmarkAppendResponse(b *testing.B) {
	var h Header
	h.Add("Content-Type", "application/octet-stream")
	h.Add("Etag", `"r12345"`)
	h.Add("Date", "Wed, 25 Nov 2026 09:14:00 GMT")
	c, in, out := &ServerConn{}, []byte(typicalGet), make([]byte, 0, 512)
	b.ReportAllocs()
	for b.Loop() {
		out = parseOnce(c, in, out, &h)
	}
}

// TestNoAllocations guards the hot path: once its buffers have grown, a
// connection parses a request and encodes a response without allocating.
func TestNoAllocations(t *testing.T) {
	var h Header
	h.Add("Content-Type", "application/json")
	c, in, out := &ServerConn{}, []byte(typicalGet), make([]byte, 0, 512)
	out = parseOnce(c, in, out, &h)
	if n := testing.AllocsPerRun(100, func() { out = parseOnce(c, in, out, &h) }); n != 0 {
		t.Errorf("got %v allocations per request; want 0", n)
	}
	cc, resp := &ClientConn{}, []byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nhi")
	buf := make([]byte, 16)
	var req Header
	req.Add("Host", "a")
	roundTrip := func() {
		out, _ = cc.AppendRequest(out[:0], MethodGet, "/kv/a", &req, nil)
		cc.Feed(resp)
		if _, err := cc.NextResponse(); err != nil {
			t.Fatal(err)
		}
		for {
			if _, err := cc.ReadBody(buf); err != nil {
				break
			}
		}
	}
	roundTrip()
	if n := testing.AllocsPerRun(100, roundTrip); n != 0 {
		t.Errorf("client: got %v allocations per exchange; want 0", n)
	}
}
