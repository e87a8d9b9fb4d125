package wire

import (
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
)

// got is what a client saw of one response.
type got struct {
	Status         int
	Body, Trailer  string
	Close, Interim bool
}

// fetch sends one request per method, then reads in (fed step bytes at a
// time) as the server's answer, and returns the responses it parsed and the
// error that ended it (nil once every request has its response).
func fetch(t *testing.T, methods []string, in string, step int) ([]got, error) {
	t.Helper()
	c := &ClientConn{Limits: Limits{MaxBodyBytes: -1}}
	for _, m := range methods {
		var h Header
		h.Add("Host", "a")
		if _, err := c.AppendRequest(nil, m, "/", &h, nil); err != nil {
			t.Fatalf("AppendRequest(%s): %v", m, err)
		}
	}
	f := &feeder{in: in, step: step}
	more := func() { f.next(c.Feed, c.FeedEOF) }
	var out []got
	buf := make([]byte, 3)
	for guard := 0; guard < 10*len(in)+100; guard++ {
		if c.Pending() == 0 {
			return out, nil
		}
		r, err := c.NextResponse()
		if errors.Is(err, ErrNeedMore) {
			more()
			continue
		}
		if err != nil {
			return out, err
		}
		g := got{Status: r.Status, Close: r.Close, Interim: r.Status < 200}
		var body []byte
		for ; guard < 10*len(in)+100; guard++ {
			n, err := c.ReadBody(buf)
			body = append(body, buf[:n]...)
			if errors.Is(err, ErrNeedMore) {
				more()
				continue
			}
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return out, err
			}
		}
		g.Body, g.Trailer = string(body), fieldsString(&r.Trailer)
		out = append(out, g)
	}
	t.Fatalf("no progress on %q", in)
	return nil, nil
}

func TestResponses(t *testing.T) {
	tests := []struct {
		name    string
		methods []string
		in      string
		want    []got
	}{
		{"length", []string{"GET"}, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
			[]got{{Status: 200, Body: "hello"}}},
		{"chunked with trailer", []string{"GET"},
			"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=1\r\nde\r\n0\r\nEtag: \"1\"\r\n\r\n",
			[]got{{Status: 200, Body: "abcde", Trailer: `Etag="\"1\"";`}}},
		{"until close", []string{"GET"}, "HTTP/1.1 200 OK\r\n\r\nall of it",
			[]got{{Status: 200, Body: "all of it", Close: true}}},
		{"http/1.0 until close", []string{"GET"}, "HTTP/1.0 200 OK\r\n\r\nold",
			[]got{{Status: 200, Body: "old", Close: true}}},
		{"coding not chunked: until close", []string{"GET"}, "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nzz",
			[]got{{Status: 200, Body: "zz", Close: true}}},
		{"chunked wins over length, then close", []string{"GET"},
			"HTTP/1.1 200 OK\r\nContent-Length: 99\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n",
			[]got{{Status: 200, Body: "x", Close: true}}},
		{"head ignores length", []string{"HEAD", "GET"},
			"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi",
			[]got{{Status: 200}, {Status: 200, Body: "hi"}}},
		{"204 and 304 have no body", []string{"DELETE", "GET", "GET"},
			"HTTP/1.1 204 No Content\r\nContent-Length: 3\r\n\r\nHTTP/1.1 304 Not Modified\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n!",
			[]got{{Status: 204}, {Status: 304}, {Status: 200, Body: "!"}}},
		{"interim responses", []string{"PUT"},
			"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </s>\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n",
			[]got{{Status: 100, Interim: true}, {Status: 103, Interim: true}, {Status: 201}}},
		{"pipelined", []string{"GET", "GET", "GET"},
			strings.Repeat("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc", 3),
			[]got{{Status: 200, Body: "abc"}, {Status: 200, Body: "abc"}, {Status: 200, Body: "abc"}}},
		{"connection close", []string{"GET"}, "HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
			[]got{{Status: 404, Close: true}}},
		{"no reason phrase", []string{"GET"}, "HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n",
			[]got{{Status: 200}}},
	}
	for _, tc := range tests {
		for _, m := range modes {
			t.Run(tc.name+"/"+m.name, func(t *testing.T) {
				out, err := fetch(t, tc.methods, tc.in, m.step)
				if err != nil {
					t.Fatalf("got error %v; want none", err)
				}
				if !reflect.DeepEqual(out, tc.want) {
					t.Fatalf("got %+v; want %+v", out, tc.want)
				}
			})
		}
	}
}

func TestMalformedResponses(t *testing.T) {
	tests := []struct {
		name string
		in   string
		err  error
	}{
		{"bare LF", "HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n", ErrBareLF},
		{"bad version", "HTTP/2 200 OK\r\n\r\n", ErrStatusLine},
		{"bad status", "HTTP/1.1 2x0 OK\r\n\r\n", ErrStatusLine},
		{"status below 100", "HTTP/1.1 099 Hm\r\n\r\n", ErrStatusLine},
		{"two lengths", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", ErrContentLengthTwice},
		{"truncated body", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", ErrTruncated},
		{"truncated chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nab", ErrTruncated},
		{"switching protocols", "HTTP/1.1 101 Switching Protocols\r\n\r\n", ErrTunnel},
		{"nothing", "", ErrTruncated},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := fetch(t, []string{"GET"}, tc.in, 0)
			if !errors.Is(err, tc.err) && !(tc.in == "" && errors.Is(err, io.EOF)) {
				t.Fatalf("got %v; want %v", err, tc.err)
			}
		})
	}
}

func TestUnsolicitedResponse(t *testing.T) {
	c := &ClientConn{}
	c.Feed([]byte("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"))
	if _, err := c.NextResponse(); !errors.Is(err, ErrUnsolicited) {
		t.Errorf("got %v; want %v", err, ErrUnsolicited)
	}
}

func TestAppendRequest(t *testing.T) {
	var h Header
	h.Add("Host", "127.0.0.1:10000")
	h.Add("Accept", "text/plain")
	tests := []struct {
		method, target, body, want string
	}{
		{"GET", "/", "", "GET / HTTP/1.1\r\nHost: 127.0.0.1:10000\r\nAccept: text/plain\r\n\r\n"},
		{"POST", "/create", "name:kangjuseong",
			"POST /create HTTP/1.1\r\nHost: 127.0.0.1:10000\r\nAccept: text/plain\r\nContent-Length: 16\r\n\r\nname:kangjuseong"},
		{"PUT", "/update", "", "PUT /update HTTP/1.1\r\nHost: 127.0.0.1:10000\r\nAccept: text/plain\r\nContent-Length: 0\r\n\r\n"},
	}
	for _, tc := range tests {
		c := &ClientConn{}
		out, err := c.AppendRequest(nil, tc.method, tc.target, &h, []byte(tc.body))
		if err != nil || string(out) != tc.want {
			t.Errorf("got %q, %v; want %q", out, err, tc.want)
		}
	}
	for _, bad := range [][2]string{{"G T", "/"}, {"GET", "/a b"}, {"GET", ""}, {"GET", "/\r\n"}} {
		c := &ClientConn{}
		if _, err := c.AppendRequest(nil, bad[0], bad[1], &h, nil); !errors.Is(err, ErrSequence) {
			t.Errorf("%q %q: got %v; want %v", bad[0], bad[1], err, ErrSequence)
		}
	}
}

func TestClientCloseStopsRequests(t *testing.T) {
	c := &ClientConn{}
	var h Header
	h.Add("Host", "a")
	h.Add("Connection", "close")
	out, err := c.AppendRequest(nil, "GET", "/", &h, nil)
	if err != nil || !strings.Contains(string(out), "Connection: close\r\n") {
		t.Fatalf("got %q, %v", out, err)
	}
	if c.Reusable() {
		t.Error("Reusable after Connection: close: got true; want false")
	}
	if _, err := c.AppendRequest(nil, "GET", "/", nil, nil); !errors.Is(err, ErrSequence) {
		t.Errorf("request after close: got %v; want %v", err, ErrSequence)
	}
}

// MaxBodyBytes bounds a response's body however it is framed; a length
// announced beyond it is refused before any of the body is read.
func TestClientBodyLimit(t *testing.T) {
	tests := []struct{ name, in string }{
		{"content-length", "HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\n12345678"},
		{"huge content-length", "HTTP/1.1 200 OK\r\nContent-Length: 999999999999999999\r\n\r\n1234"},
		{"chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n8\r\n12345678\r\n0\r\n\r\n"},
		{"close-delimited", "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n12345678"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := &ClientConn{Limits: Limits{MaxBodyBytes: 4}}
			var h Header
			h.Add("Host", "a")
			if _, err := c.AppendRequest(nil, MethodGet, "/", &h, nil); err != nil {
				t.Fatal(err)
			}
			c.Feed([]byte(tc.in))
			c.FeedEOF()
			_, err := c.NextResponse()
			var body []byte
			buf := make([]byte, 64)
			for n := 0; err == nil; {
				n, err = c.ReadBody(buf)
				body = append(body, buf[:n]...)
			}
			if !errors.Is(err, ErrBodyTooLarge) {
				t.Fatalf("got body %q, %v; want %v", body, err, ErrBodyTooLarge)
			}
			if c.State() != StateClosed {
				t.Errorf("got state %v; want closed", c.State())
			}
		})
	}
}

// A client that pipelines a request saying "Connection: close" reads the
// responses to the requests before it, and closes after its own (RFC 9112
// section 9.6).
func TestClientCloseAfterItsResponse(t *testing.T) {
	c := &ClientConn{}
	var h, closing Header
	h.Add("Host", "a")
	closing.Add("Host", "a")
	closing.Add("Connection", "close")
	for _, hh := range []*Header{&h, &h, &closing} {
		if _, err := c.AppendRequest(nil, MethodGet, "/", hh, nil); err != nil {
			t.Fatal(err)
		}
	}
	in := "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na" +
		"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n" +
		"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\nc"
	for _, step := range []int{0, 1} {
		c := *c
		c.pending = append([]string(nil), c.pending...)
		f := &feeder{in: in, step: step}
		var bodies []string
		buf := make([]byte, 8)
		for guard := 0; guard < 1000 && c.State() != StateClosed; guard++ {
			if c.State() != StateBody {
				if _, err := c.NextResponse(); errors.Is(err, ErrNeedMore) {
					f.next(c.Feed, c.FeedEOF)
				} else if err != nil {
					t.Fatalf("step %d: got %v after %q; want three responses", step, err, bodies)
				} else {
					bodies = append(bodies, "")
				}
				continue
			}
			n, err := c.ReadBody(buf)
			bodies[len(bodies)-1] += string(buf[:n])
			if errors.Is(err, ErrNeedMore) {
				f.next(c.Feed, c.FeedEOF)
			}
		}
		if got, want := strings.Join(bodies, ","), "a,,c"; got != want || c.State() != StateClosed {
			t.Errorf("step %d: got bodies %q, state %v; want %q, closed", step, got, c.State(), want)
		}
	}
}

// TestServerClientRoundTrip: what ServerConn writes, ClientConn reads.
func TestServerClientRoundTrip(t *testing.T) {
	cc, sc := &ClientConn{}, &ServerConn{}
	var h Header
	h.Add("Host", "a")
	for i, method := range []string{"GET", "HEAD", "POST", "GET"} {
		req, err := cc.AppendRequest(nil, method, "/r", &h, []byte(fmt.Sprint(i)))
		if err != nil {
			t.Fatal(err)
		}
		sc.Feed(req)
		if _, err := sc.NextRequest(); err != nil {
			t.Fatal(err)
		}
		resp, err := sc.AppendResponse(nil, 200, &h, []byte("body"))
		if err != nil {
			t.Fatal(err)
		}
		cc.Feed(resp)
		r, err := cc.NextResponse()
		if err != nil || r.Status != 200 {
			t.Fatalf("%s: got %v, %v", method, r, err)
		}
		body, _ := io.ReadAll(readerFunc(cc.ReadBody))
		if want := map[bool]string{true: "", false: "body"}[method == "HEAD"]; string(body) != want {
			t.Errorf("%s: got body %q; want %q", method, body, want)
		}
		if !cc.Reusable() {
			t.Errorf("%s: connection not reusable", method)
		}
	}
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }
