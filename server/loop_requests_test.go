package server

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Tests of requests the event loop does not serve whole on its own: ones
// that arrive in pieces or wait for 100 Continue, and answers too large to
// write at once; and of requests that end the connection: panics,
// malformed requests and closing ones. The deferring handler and the
// helpers are in loop_test.go.

// TestLoopRequestInPieces: a request that arrives in pieces on a
// connection in the loop is answered (a goroutine waits for the rest),
// and the loop takes the connection again afterwards.
func TestLoopRequestInPieces(t *testing.T) {
	s, addr := startDeferring(t, newDeferring(), nil)
	full := put("/later/pieces", "hello")
	split := func(raw string, at ...string) []string {
		var parts []string
		for _, a := range at {
			i := strings.Index(raw, a)
			parts = append(parts, raw[:i])
			raw = raw[i:]
		}
		return append(parts, raw)
	}
	var bytewise []string
	for i := range len(full) {
		bytewise = append(bytewise, full[i:i+1])
	}
	pieces := reply{Status: 201, Path: "/later/pieces", Body: "hello"}
	tests := []struct {
		name  string
		parts []string
		want  []reply // X-Via unchecked: the goroutine offers a request anew once it has all arrived
	}{
		{"in the request line", split(full, "TP/1.1"), []reply{pieces}},
		{"in a field", split(full, "ost: x"), []reply{pieces}},
		{"before the blank line", split(full, "\r\n\r\nhello"), []reply{pieces}},
		{"head, then body", split(full, "hello"), []reply{pieces}},
		{"in the body", split(full, "llo"), []reply{pieces}},
		{"several pieces", split(full, "/pieces", "Content", "\r\n\r\n", "l"), []reply{pieces}},
		{"byte by byte", bytewise, []reply{pieces}},
		{"the second of two", split(put("/later/first", "one")+full, "Content-Length: 5"),
			[]reply{{Status: 201, Path: "/later/first", Body: "one"}, pieces}},
		{"a declined one", split(get("/get/pieces"), "Host"),
			[]reply{{Status: 200, Via: "serve", Path: "/get/pieces", Body: "slow path /get/pieces"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := dialClient(t, addr)
			c.warm(t, s)
			for _, p := range tc.parts {
				if err := c.send(p); err != nil {
					t.Fatal(err)
				}
				time.Sleep(20 * time.Millisecond)
			}
			for i, want := range tc.want {
				if got, err := c.read(); err != nil || !got.matches(want) {
					t.Fatalf("response %d: got %+v, %v; want %+v", i, got, err, want)
				}
			}
			c.warm(t, s) // and the loop takes the connection again
		})
	}
}

// TestLoopExpectContinue: a request that waits for 100 Continue is not
// offered to TryServeHTTP; on a connection in the loop, a goroutine takes
// it, and the loop the connection again afterwards.
func TestLoopExpectContinue(t *testing.T) {
	s, addr := startDeferring(t, newDeferring(), nil)
	c := dialClient(t, addr)
	c.warm(t, s)
	if err := c.send("PUT /later/k HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	if got, err := c.read(); err != nil || got.Status != 100 {
		t.Fatalf("got %+v, %v; want 100 Continue", got, err)
	}
	want := reply{Status: 201, Via: "serve", Path: "/later/k", Body: "hello"}
	c.mustRoundTrip(t, "hello", want)
	c.warm(t, s)
}

// slowReader reads at most 16 KiB at a time, pausing before each read.
type slowReader struct{ r io.Reader }

func (s slowReader) Read(p []byte) (int, error) {
	time.Sleep(200 * time.Microsecond)
	return s.r.Read(p[:min(len(p), 16<<10)])
}

// TestLoopLargeResponse: a deferred answer larger than the socket's
// buffers, on a connection in the loop, to a client that reads slowly,
// arrives whole (the loop hands the write to a goroutine), and so do the
// answers pipelined after it.
func TestLoopLargeResponse(t *testing.T) {
	const size = 8 << 20
	big := func(i int) string { return put(fmt.Sprintf("/big/%d", i), strconv.Itoa(size)) }
	tests := []struct {
		name string
		raw  string
		bigs []bool // the replies, large or not
	}{
		{"alone", big(1), []bool{true}},
		{"then a deferred one", big(1) + put("/later/after", "after"), []bool{true, false}},
		{"after a deferred one", put("/later/before", "before") + big(1), []bool{false, true}},
		{"two", big(1) + big(2), []bool{true, true}},
		{"then a declined one", big(1) + get("/get/after"), []bool{true, false}},
	}
	want := pattern(size)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, addr := startDeferring(t, newDeferring(), nil)
			c := dialClient(t, addr)
			if err := c.nc.(*net.TCPConn).SetReadBuffer(32 << 10); err != nil {
				t.Fatal(err)
			}
			c.warm(t, s)
			if err := c.send(tc.raw); err != nil {
				t.Fatal(err)
			}
			time.Sleep(50 * time.Millisecond) // let the socket's buffers fill
			c.br = bufio.NewReader(slowReader{c.nc})
			for i, isBig := range tc.bigs {
				got, err := c.readWithin(20 * time.Second)
				if err != nil {
					t.Fatalf("response %d: %v", i, err)
				}
				if isBig {
					if got.Status != 201 || got.Body != string(want) {
						t.Fatalf("response %d: got status %d and %d bytes (intact: %v); want 201 and %d bytes",
							i, got.Status, len(got.Body), got.Body == string(want[:len(got.Body)]), size)
					}
				} else if got.Status != 201 && got.Status != 200 || got.Close {
					t.Fatalf("response %d: got %+v; want a small answer", i, got)
				}
			}
			c.br = bufio.NewReader(c.nc)
			c.warm(t, s)
		})
	}
}

// TestNonBlockingPanic: a panic in TryServeHTTP, before or after Later,
// answers 500 with "Connection: close", and the connection closes, on the
// connection's goroutine and in the loop; nothing sent after it is
// answered.
func TestNonBlockingPanic(t *testing.T) {
	s, addr := startDeferring(t, newDeferring(), nil)
	for _, warm := range []bool{false, true} {
		for _, path := range []string{"/panic", "/panic-later"} {
			t.Run(fmt.Sprintf("%s/warm=%v", path, warm), func(t *testing.T) {
				c := dialClient(t, addr)
				if warm {
					c.warm(t, s)
				}
				got, err := c.roundTrip(put(path, "x") + put("/later/never", "never"))
				if err != nil || got.Status != 500 || !got.Close {
					t.Fatalf("got %+v, %v; want 500 with Connection: close", got, err)
				}
				if err := c.closed(); err != nil {
					t.Errorf("after the 500: %v; want the connection closed", err)
				}
			})
		}
	}
	// The server still serves.
	c := dialClient(t, addr)
	c.warm(t, s)
}

// TestLoopMalformed: a request the server refuses, on a connection in
// the loop, gets its 4xx, and the connection closes without answering
// what followed.
func TestLoopMalformed(t *testing.T) {
	s, addr := startDeferring(t, newDeferring(), func(s *Server) { s.Limits.MaxBodyBytes = 64 })
	long := strings.Repeat("x", 100)
	tests := []struct {
		name, raw string
		status    int
	}{
		{"no host", "PUT /later/a HTTP/1.1\r\nContent-Length: 1\r\n\r\na", 400},
		{"bad length", "PUT /later/a HTTP/1.1\r\nHost: x\r\nContent-Length: 1x\r\n\r\n", 400},
		{"bare LF", "PUT /later/a HTTP/1.1\nHost: x\r\nContent-Length: 1\r\n\r\na", 400},
		{"unknown method", "BREW /later/a HTTP/1.1\r\nHost: x\r\n\r\n", 501},
		{"http/2", "PUT /later/a HTTP/2.0\r\nHost: x\r\nContent-Length: 1\r\n\r\na", 505},
		{"large header", "PUT /later/a HTTP/1.1\r\nHost: x\r\nX: " + strings.Repeat("a", 17000) + "\r\n\r\n", 431},
		{"body too large, all there", put("/later/a", long), 413},
		{"body too large, all there, left to Later", put("/unread/a", long), 413},
		{"body too large, announced", "PUT /later/a HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n", 413},
		{"bad chunk", "PUT /later/a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;\r\nhello\r\n0\r\n\r\n", 400},
	}
	for _, tc := range tests {
		for _, after := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/after a deferred one=%v", tc.name, after), func(t *testing.T) {
				c := dialClient(t, addr)
				c.warm(t, s)
				raw := tc.raw + get("/smuggled")
				if after {
					raw = put("/later/before", "before") + raw
				}
				if err := c.send(raw); err != nil {
					t.Fatal(err)
				}
				if after {
					if got, err := c.read(); err != nil || got.Status != 201 || got.Body != "before" {
						t.Fatalf("the request before: got %+v, %v; want 201, before", got, err)
					}
				}
				c.mustBeRefused(t, tc.status)
			})
		}
	}
}

// TestLoopClosingRequests: an HTTP/1.0 request and one saying
// "Connection: close", answered through the deferred path, on the
// connection's goroutine or in the loop, close the connection after
// their answer; an HTTP/1.0 one asking for keep-alive does not.
func TestLoopClosingRequests(t *testing.T) {
	s, addr := startDeferring(t, newDeferring(), nil)
	tests := []struct {
		name, raw string
		want      reply
	}{
		{"http/1.0", "PUT /later/a HTTP/1.0\r\nContent-Length: 3\r\n\r\nabc",
			reply{Status: 201, Path: "/later/a", Body: "abc", Close: true}},
		{"connection: close", "PUT /later/a HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 3\r\n\r\nabc",
			reply{Status: 201, Path: "/later/a", Body: "abc", Close: true}},
		{"connection: close, early", "PUT /early/a HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 3\r\n\r\nabc",
			reply{Status: 201, Path: "/early/a", Body: "abc", Close: true}},
		{"connection: close, racing", "PUT /race/a HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 3\r\n\r\nabc",
			reply{Status: 201, Path: "/race/a", Body: "abc", Close: true}},
		{"connection: close, sync", "POST /sync/a HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 3\r\n\r\nabc",
			reply{Status: 200, Path: "/sync/a", Body: "abc", Close: true}},
		{"http/1.0, keep-alive", "PUT /later/a HTTP/1.0\r\nConnection: keep-alive\r\nContent-Length: 3\r\n\r\nabc",
			reply{Status: 201, Path: "/later/a", Body: "abc", Close: false}},
	}
	for _, tc := range tests {
		for _, warm := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/warm=%v", tc.name, warm), func(t *testing.T) {
				c := dialClient(t, addr)
				if warm {
					c.warm(t, s)
				}
				next, nextWant := request("later", 1)
				raw := tc.raw
				if tc.want.Close {
					raw += next // never answered
				}
				c.mustRoundTrip(t, raw, tc.want)
				if !tc.want.Close {
					c.mustRoundTrip(t, next, nextWant)
					return
				}
				if err := c.closed(); err != nil {
					t.Errorf("after the answer: %v; want the connection closed", err)
				}
			})
		}
	}
}
