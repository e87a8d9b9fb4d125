package wire

import (
	"errors"
	"io"
	"testing"
)

func TestStreamedResponse(t *testing.T) {
	tests := []struct {
		name, in, want string
		state          ConnState
	}{
		{"chunked for 1.1", "GET /kv/ HTTP/1.1\r\nHost: a\r\n\r\n",
			"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n" +
				"3\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\n\r\n", StateIdle},
		{"close-delimited for 1.0", "GET /kv/ HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
			"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nabc0123456789abcdef", StateClosed},
		{"head: fields only", "HEAD /kv/ HTTP/1.1\r\nHost: a\r\n\r\n",
			"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n", StateIdle},
		{"closing", "GET /kv/ HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
			"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n" +
				"3\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\n\r\n", StateClosed},
	}
	var h Header
	h.Add("Content-Type", "text/plain")
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := requestIn(t, tc.in)
			out, err := c.AppendStreamHead(nil, 200, &h)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.AppendResponse(nil, 200, nil, nil); !errors.Is(err, ErrSequence) {
				t.Errorf("AppendResponse while streaming: got %v; want %v", err, ErrSequence)
			}
			out = c.AppendStreamData(out, []byte("abc"))
			out = c.AppendStreamData(out, nil) // an empty piece would end a chunked body: skipped
			out = c.AppendStreamData(out, []byte("0123456789abcdef"))
			if out, err = c.AppendStreamEnd(out); err != nil {
				t.Fatal(err)
			}
			if string(out) != tc.want || c.State() != tc.state {
				t.Errorf("got %q in state %v; want %q in state %v", out, c.State(), tc.want, tc.state)
			}
			if _, err := c.AppendStreamEnd(nil); !errors.Is(err, ErrSequence) {
				t.Errorf("second end: got %v; want %v", err, ErrSequence)
			}
		})
	}
}

func TestStreamNeedsABody(t *testing.T) {
	for _, status := range []int{204, 304, 100} {
		c := &ServerConn{}
		c.Feed([]byte("GET / HTTP/1.1\r\nHost: a\r\n\r\n"))
		c.NextRequest()
		if _, err := c.AppendStreamHead(nil, status, nil); !errors.Is(err, ErrSequence) {
			t.Errorf("status %d: got %v; want %v", status, err, ErrSequence)
		}
	}
}

// TestStreamRoundTrip: a ClientConn reads what a streaming ServerConn
// writes, across several requests on one connection.
func TestStreamRoundTrip(t *testing.T) {
	sc, cc := &ServerConn{}, &ClientConn{}
	var h Header
	h.Add("Host", "a")
	for range 3 {
		req, _ := cc.AppendRequest(nil, MethodGet, "/kv/", &h, nil)
		sc.Feed(req)
		if _, err := sc.NextRequest(); err != nil {
			t.Fatal(err)
		}
		out, _ := sc.AppendStreamHead(nil, 200, nil)
		for _, piece := range []string{"one,", "two,", "three"} {
			out = sc.AppendStreamData(out, []byte(piece))
		}
		out, _ = sc.AppendStreamEnd(out)
		cc.Feed(out)
		if _, err := cc.NextResponse(); err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(readerFunc(cc.ReadBody))
		if err != nil || string(body) != "one,two,three" {
			t.Fatalf("got %q, %v", body, err)
		}
	}
}
