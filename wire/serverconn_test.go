package wire

import (
	"errors"
	"io"
	"strings"
	"testing"
)

// respond parses one request from in and returns the bytes of the response
// AppendResponse encodes for it, with the given status, fields and body.
func respond(t *testing.T, in string, status int, h *Header, body string) (string, *ServerConn) {
	t.Helper()
	c := requestIn(t, in)
	out, err := c.AppendResponse(nil, status, h, []byte(body))
	if err != nil {
		t.Fatalf("AppendResponse: %v", err)
	}
	return string(out), c
}

func TestAppendResponse(t *testing.T) {
	var typed Header
	typed.Add("Content-Type", "text/plain")
	typed.Add("Content-Length", "999")         // the codec's to write
	typed.Add("Transfer-Encoding", "chunked")  // likewise
	typed.Add("X-Split", "a\r\nInjected: yes") // would split the message
	typed.Add("Bad Name", "x")                 // not a token
	var closing Header
	closing.Add("Connection", "close")

	tests := []struct {
		name      string
		in        string
		status    int
		h         *Header
		body      string
		want      string
		wantState ConnState
	}{
		{"get", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", 200, &typed, "hi",
			"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nhi", StateIdle},
		{"head keeps length, drops body", "HEAD / HTTP/1.1\r\nHost: a\r\n\r\n", 200, &typed, "hi",
			"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\n", StateIdle},
		{"204 has neither", "DELETE /k HTTP/1.1\r\nHost: a\r\n\r\n", 204, nil, "",
			"HTTP/1.1 204 No Content\r\n\r\n", StateIdle},
		{"304 has neither", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", 304, nil, "ignored",
			"HTTP/1.1 304 Not Modified\r\n\r\n", StateIdle},
		{"client asked to close", "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", 200, nil, "",
			"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", StateClosed},
		{"handler asks to close", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", 200, &closing, "",
			"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", StateClosed},
		{"http/1.0 closes", "GET / HTTP/1.0\r\n\r\n", 404, nil, "no",
			"HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 2\r\n\r\nno", StateClosed},
		{"http/1.0 keep-alive", "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", 200, nil, "",
			"HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n", StateIdle},
		{"unread body drains", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nab", 200, nil, "",
			"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", StateDrain},
		{"unread body after expect closes", "POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n", 404, nil, "",
			"HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", StateClosed},
		{"unknown status code", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", 299, nil, "",
			"HTTP/1.1 299 \r\nContent-Length: 0\r\n\r\n", StateIdle},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, c := respond(t, tc.in, tc.status, tc.h, tc.body)
			if got != tc.want {
				t.Errorf("got %q; want %q", got, tc.want)
			}
			if c.State() != tc.wantState {
				t.Errorf("got state %v; want %v", c.State(), tc.wantState)
			}
			if _, err := c.AppendResponse(nil, 200, nil, nil); !errors.Is(err, ErrSequence) {
				t.Errorf("second response: got %v; want %v", err, ErrSequence)
			}
		})
	}
}

// TestErrorResponse: after a refused request the connection may send one
// response, which closes it, and parses nothing more.
func TestErrorResponse(t *testing.T) {
	c := requestIn(t, "GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /x HTTP/1.1\r\n\r\nGET /y HTTP/1.1\r\nHost: a\r\n\r\n")
	if _, err := c.AppendResponse(nil, 200, nil, nil); err != nil {
		t.Fatal(err)
	}
	_, err := c.NextRequest()
	var pe *ProtocolError
	if !errors.As(err, &pe) || pe.Status != 400 {
		t.Fatalf("got %v; want a 400 ProtocolError", err)
	}
	out, err := c.AppendResponse(nil, pe.Status, nil, []byte("bad"))
	if err != nil {
		t.Fatal(err)
	}
	if want := "HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 3\r\n\r\nbad"; string(out) != want {
		t.Errorf("got %q; want %q", out, want)
	}
	if r, err := c.NextRequest(); r != nil || !errors.Is(err, io.EOF) {
		t.Errorf("after the error: got %v, %v; want nil, EOF", r, err)
	}
	if _, err := c.AppendResponse(nil, 400, nil, nil); !errors.Is(err, ErrSequence) {
		t.Errorf("second error response: got %v; want %v", err, ErrSequence)
	}
}

// TestErrorResponseToHead: a refused HEAD request gets no body either.
func TestErrorResponseToHead(t *testing.T) {
	c := &ServerConn{}
	c.Feed([]byte("HEAD / HTTP/1.1\r\n\r\n"))
	if _, err := c.NextRequest(); err == nil {
		t.Fatal("got no error; want missing Host")
	}
	out, _ := c.AppendResponse(nil, 400, nil, []byte("bad"))
	if want := "HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 3\r\n\r\n"; string(out) != want {
		t.Errorf("got %q; want %q", out, want)
	}
}

func TestExpectContinue(t *testing.T) {
	c := requestIn(t, "PUT /k HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
	if !c.NeedsContinue() {
		t.Fatal("NeedsContinue: got false; want true")
	}
	buf := make([]byte, 16)
	if n, err := c.ReadBody(buf); n != 0 || !errors.Is(err, ErrNeedMore) {
		t.Fatalf("ReadBody before the body: got %d, %v; want 0, ErrNeedMore", n, err)
	}
	if got := string(c.AppendContinue(nil)); got != "HTTP/1.1 100 Continue\r\n\r\n" {
		t.Errorf("got %q", got)
	}
	if c.NeedsContinue() {
		t.Error("NeedsContinue after AppendContinue: got true; want false")
	}
	c.Feed([]byte("hello"))
	if n, err := c.ReadBody(buf); n != 5 || err != nil || string(buf[:n]) != "hello" {
		t.Fatalf("got %d %q %v; want 5 hello nil", n, buf[:n], err)
	}
	out, _ := c.AppendResponse(nil, 204, nil, nil)
	if strings.Contains(string(out), "close") || c.State() != StateIdle {
		t.Errorf("got %q in state %v; want a persistent connection", out, c.State())
	}
}

// TestNoContinueAfterStreamHead: once a streamed response has begun, no
// 100 Continue is owed (none may follow a final response), and the
// connection closes after it, as the client may not send its body.
func TestNoContinueAfterStreamHead(t *testing.T) {
	c := requestIn(t, "PUT /k HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
	head, err := c.AppendStreamHead(nil, 200, nil)
	if err != nil || !strings.Contains(string(head), "Connection: close\r\n") {
		t.Fatalf("got %q, %v; want a head saying close", head, err)
	}
	if c.NeedsContinue() {
		t.Error("NeedsContinue after the stream head: got true; want false")
	}
}

// TestBodyRefusedAfterHead: a declared length over the limit is refused
// (413) at the first read of the body, before a byte of it is read; the
// head is returned first, so that the caller may answer in its own words;
// no 100 Continue is owed, and the connection closes after the answer.
func TestBodyRefusedAfterHead(t *testing.T) {
	c := &ServerConn{Limits: Limits{MaxBodyBytes: 4}}
	c.Feed([]byte("PUT /k HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n"))
	r, err := c.NextRequest()
	if err != nil || r.Framing.Length != 5 {
		t.Fatalf("NextRequest: got %v, %v; want the request", r, err)
	}
	if c.NeedsContinue() {
		t.Error("NeedsContinue: got true; want false")
	}
	if _, err := c.ReadBody(make([]byte, 8)); !errors.Is(err, ErrBodyTooLarge) {
		t.Errorf("ReadBody: got %v; want %v", err, ErrBodyTooLarge)
	}
	out, err := c.AppendResponse(nil, 413, nil, nil)
	if err != nil || !strings.Contains(string(out), "Connection: close\r\n") || c.State() != StateClosed {
		t.Errorf("got %q, %v in state %v; want a 413 saying close, and closed", out, err, c.State())
	}
}

// TestDrain: a response sent before the body was read leaves the body to
// be discarded, and the next pipelined request is parsed at the right byte.
func TestDrain(t *testing.T) {
	for _, first := range []string{
		"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 26\r\n\r\nGET /smuggled HTTP/1.1\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1a\r\nGET /smuggled HTTP/1.1\r\n\r\n\r\n0\r\n\r\n",
	} {
		for _, m := range modes {
			c := &ServerConn{}
			f := &feeder{in: first + "GET /next HTTP/1.1\r\nHost: a\r\n\r\n", step: m.step}
			var paths []string
			for guard := 0; guard < 1000; guard++ {
				r, err := c.NextRequest()
				if errors.Is(err, ErrNeedMore) {
					f.next(c.Feed, c.FeedEOF)
					continue
				}
				if err != nil {
					break
				}
				paths = append(paths, string(r.Path))
				if _, err := c.AppendResponse(nil, 200, nil, nil); err != nil {
					t.Fatal(err)
				}
			}
			if strings.Join(paths, " ") != "/ /next" {
				t.Errorf("%s: got %v; want [/ /next]", m.name, paths)
			}
		}
	}
}

func TestReadBodyOutOfSequence(t *testing.T) {
	c := &ServerConn{}
	if _, err := c.ReadBody(make([]byte, 1)); !errors.Is(err, ErrSequence) {
		t.Errorf("got %v; want %v", err, ErrSequence)
	}
	c.Feed([]byte("GET / HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"))
	if _, err := c.NextRequest(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.NextRequest(); !errors.Is(err, ErrSequence) {
		t.Errorf("NextRequest before answering: got %v; want %v", err, ErrSequence)
	}
	if n, err := c.ReadBody(make([]byte, 1)); n != 0 || !errors.Is(err, io.EOF) {
		t.Errorf("ReadBody of a GET: got %d, %v; want 0, EOF", n, err)
	}
}

func TestStates(t *testing.T) {
	c := &ServerConn{}
	step := func(want ConnState) {
		t.Helper()
		if c.State() != want {
			t.Fatalf("got state %v; want %v", c.State(), want)
		}
	}
	step(StateIdle)
	c.Feed([]byte("POST / HTTP/1.1\r\nHost: a\r\n"))
	step(StateHead)
	c.NextRequest()
	step(StateHead)
	c.Feed([]byte("Content-Length: 2\r\n\r\nx"))
	c.NextRequest()
	step(StateBody)
	c.Feed([]byte("y"))
	c.ReadBody(make([]byte, 8))
	step(StateRespond)
	c.AppendResponse(nil, 200, nil, nil)
	step(StateIdle)
	c.FeedEOF()
	if _, err := c.NextRequest(); !errors.Is(err, io.EOF) {
		t.Fatalf("got %v; want EOF", err)
	}
	step(StateClosed)
	for s := StateIdle; s <= StateClosed+1; s++ {
		if s.String() == "" {
			t.Errorf("state %d has no name", s)
		}
	}
}

// An empty line after a request (old clients send CRLF after a POST body)
// is ignored (RFC 9112 section 2.2) and leaves the connection idle: a close
// then is a clean end and a timeout a quiet one.
func TestEmptyLineAfterRequest(t *testing.T) {
	tests := []struct {
		name, in string
	}{
		{"after a body", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi\r\n"},
		{"after a head", "GET / HTTP/1.1\r\nHost: a\r\n\r\n\r\n"},
		{"two, fed apart", "GET / HTTP/1.1\r\nHost: a\r\n\r\n\r"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := requestIn(t, tc.in)
			c.ReadBody(make([]byte, 8))
			if _, err := c.AppendResponse(nil, 200, nil, nil); err != nil {
				t.Fatal(err)
			}
			if strings.HasSuffix(tc.in, "\r") {
				if _, err := c.NextRequest(); !errors.Is(err, ErrNeedMore) {
					t.Fatalf("after a lone CR: got %v; want %v", err, ErrNeedMore)
				}
				c.Feed([]byte("\n\r\n"))
			}
			if _, err := c.NextRequest(); !errors.Is(err, ErrNeedMore) {
				t.Fatalf("after the empty line: got %v; want %v", err, ErrNeedMore)
			}
			if c.State() != StateIdle || c.Buffered() != 0 {
				t.Errorf("got state %v, %d bytes buffered; want idle, 0", c.State(), c.Buffered())
			}
			if err := c.TimedOut(); err != nil {
				t.Errorf("timeout: got %v; want nil (a quiet close)", err)
			}
			c.FeedEOF()
			if r, err := c.NextRequest(); r != nil || !errors.Is(err, io.EOF) {
				t.Errorf("client closed: got %v, %v; want nil, %v", r, err, io.EOF)
			}
		})
	}
}

func TestIllegalMovePanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("got no panic; want one for idle -> respond")
		}
	}()
	s := StateIdle
	advance(serverMoves[:], &s, StateRespond)
}
