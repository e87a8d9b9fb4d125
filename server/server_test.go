package server

import (
	"io"
	"strings"
	"testing"
	"time"
)

const quiet = 300 * time.Millisecond

// TestRefusedBodyAnswer: a body the codec refuses is answered with the
// refusal's status: the handler's own answer if it gave that status, the
// server's if it answered anything else.
func TestRefusedBodyAnswer(t *testing.T) {
	_, addr := start(t, HandlerFunc(func(w *ResponseWriter, r *Request) {
		if _, err := io.ReadAll(r.Body); err != nil && string(r.Path) == "/own" {
			w.WriteHeader(413)
			w.WriteString("mine")
			return
		}
		w.WriteString("ignored the error")
	}), func(s *Server) { s.Limits.MaxBodyBytes = 4 })
	tests := []struct{ path, want string }{
		{"/own", "mine"},
		{"/other", `"detail":"wire: body too large"`},
	}
	for _, tc := range tests {
		got, closed := exchange(t, addr, "PUT "+tc.path+" HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n12345", quiet)
		if !strings.HasPrefix(got, "HTTP/1.1 413 ") || !strings.Contains(got, tc.want) || !strings.Contains(got, "Connection: close") || !closed {
			t.Errorf("%s: got %q (closed %v); want 413 with %q, closed", tc.path, got, closed, tc.want)
		}
	}
}

func TestExchanges(t *testing.T) {
	_, addr := start(t, echo, nil)
	tests := []struct {
		name, raw, want string
		closed          bool
	}{
		{"get", "GET /a HTTP/1.1\r\nHost: x\r\n\r\n",
			"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nDate: *\r\nContent-Length: 7\r\n\r\nGET /a ", false},
		{"head has get's fields", "HEAD /a HTTP/1.1\r\nHost: x\r\n\r\n",
			"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nDate: *\r\nContent-Length: 8\r\n\r\n", false},
		{"post body", "POST /create HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\na:b",
			"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nDate: *\r\nContent-Length: 16\r\n\r\nPOST /create a:b", false},
		{"chunked body", "PUT /u HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n1\r\nc\r\n0\r\n\r\n",
			"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nDate: *\r\nContent-Length: 10\r\n\r\nPUT /u abc", false},
		{"connection close", "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\nGET /never HTTP/1.1\r\nHost: x\r\n\r\n",
			"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nDate: *\r\nConnection: close\r\nContent-Length: 6\r\n\r\nGET / ", true},
		{"http/1.0 closes", "GET / HTTP/1.0\r\n\r\n",
			"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nDate: *\r\nConnection: close\r\nContent-Length: 6\r\n\r\nGET / ", true},
		{"http/1.0 keep-alive", "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
			"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nDate: *\r\nConnection: keep-alive\r\nContent-Length: 6\r\n\r\nGET / ", false},
		{"unknown expectation", "GET / HTTP/1.1\r\nHost: x\r\nExpect: 200-ok\r\n\r\n",
			"HTTP/1.1 417 Expectation Failed\r\nContent-Type: application/problem+json\r\nDate: *\r\nContent-Length: 123\r\n\r\n" +
				`{"type":"about:blank","title":"Expectation Failed","status":417,"detail":"the only expectation supported is 100-continue"}` + "\n", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, closed := exchange(t, addr, tc.raw, quiet)
			if undate(got) != tc.want || closed != tc.closed {
				t.Errorf("got %q (closed %v); want %q (closed %v)", undate(got), closed, tc.want, tc.closed)
			}
		})
	}
}

// TestPipelining: requests sent together are answered in order, in one
// write.
func TestPipelining(t *testing.T) {
	_, addr, cl := startCounting(t, echo, nil)
	var raw, want strings.Builder
	for i := range 20 {
		path := "/" + strings.Repeat("p", i)
		raw.WriteString("GET " + path + " HTTP/1.1\r\nHost: x\r\n\r\n")
		want.WriteString("GET " + path + " ")
	}
	got, closed := exchange(t, addr, raw.String(), quiet)
	var bodies strings.Builder
	for _, part := range strings.Split(got, "\r\n\r\n")[1:] {
		bodies.WriteString(strings.SplitN(part, "HTTP/1.1", 2)[0])
	}
	if bodies.String() != want.String() || closed {
		t.Errorf("got bodies %q (closed %v); want %q, open", bodies.String(), closed, want.String())
	}
	if n := cl.writes.Load(); n != 1 {
		t.Errorf("got %d writes for 20 pipelined responses; want 1", n)
	}
}

func TestKeepAlive(t *testing.T) {
	_, addr := start(t, echo, nil)
	c := dial(t, addr)
	for i := range 3 {
		c.Write([]byte("GET /again HTTP/1.1\r\nHost: x\r\n\r\n"))
		got, closed := readFor(c, quiet)
		if !strings.HasSuffix(got, "GET /again ") || closed {
			t.Fatalf("request %d: got %q (closed %v)", i, got, closed)
		}
	}
}

func TestExpectContinue(t *testing.T) {
	_, addr := start(t, echo, nil)
	c := dial(t, addr)
	c.Write([]byte("PUT /k HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n"))
	got, _ := readFor(c, quiet)
	if got != "HTTP/1.1 100 Continue\r\n\r\n" {
		t.Fatalf("got %q; want a 100 Continue before the body", got)
	}
	c.Write([]byte("hello"))
	got, closed := readFor(c, quiet)
	if !strings.HasPrefix(got, "HTTP/1.1 200 OK\r\n") || !strings.HasSuffix(got, "PUT /k hello") || closed {
		t.Fatalf("got %q (closed %v)", got, closed)
	}
}

// TestExpectContinueRefused: a handler that answers without reading the
// body sends its final status at once, without 100, and closes.
func TestExpectContinueRefused(t *testing.T) {
	notFound := HandlerFunc(func(w *ResponseWriter, r *Request) { w.WriteHeader(404) })
	_, addr := start(t, notFound, nil)
	got, closed := exchange(t, addr, "POST /test HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 6\r\n\r\n", quiet)
	want := "HTTP/1.1 404 Not Found\r\nDate: *\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
	if undate(got) != want || !closed {
		t.Errorf("got %q (closed %v); want %q, closed", undate(got), closed, want)
	}
}

// TestUnreadBody: a body the handler ignores is discarded and the next
// request still parses.
func TestUnreadBody(t *testing.T) {
	ignore := HandlerFunc(func(w *ResponseWriter, r *Request) { w.WriteString(string(r.Path)) })
	_, addr := start(t, ignore, nil)
	got, closed := exchange(t, addr, "POST /one HTTP/1.1\r\nHost: x\r\nContent-Length: 30\r\n\r\nGET /smuggled HTTP/1.1\r\n\r\n1234"+
		"GET /two HTTP/1.1\r\nHost: x\r\n\r\n", quiet)
	if strings.Count(got, "HTTP/1.1 200") != 2 || !strings.HasSuffix(got, "/two") || strings.Contains(got, "smuggled") || closed {
		t.Errorf("got %q (closed %v)", got, closed)
	}
}

// TestIgnoredBodyIsChecked: a handler that answers without reading the
// body does not let a malformed body through: the client gets 400.
func TestIgnoredBodyIsChecked(t *testing.T) {
	notFound := HandlerFunc(func(w *ResponseWriter, r *Request) { w.WriteHeader(404) })
	_, addr := start(t, notFound, nil)
	got, closed := exchange(t, addr, "POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5 ;x\r\nhello\r\n0\r\n\r\n", quiet)
	if !strings.HasPrefix(got, "HTTP/1.1 400 ") || !closed {
		t.Errorf("got %q (closed %v); want 400, closed", got, closed)
	}
}

// TestAnswersBeforeWaiting: responses ready go out before the server waits
// for the rest of a later request.
func TestAnswersBeforeWaiting(t *testing.T) {
	_, addr := start(t, echo, nil)
	got, closed := exchange(t, addr, "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nA"+
		"POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nBB", quiet)
	if strings.Count(got, "HTTP/1.1 200") != 1 || !strings.HasSuffix(got, "POST /a A") || closed {
		t.Errorf("got %q (closed %v); want the first answer, connection open", got, closed)
	}
}

// TestMalformed: refused requests get their 4xx, the connection closes, and
// what followed is never answered.
func TestMalformed(t *testing.T) {
	_, addr := start(t, echo, nil)
	next := "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"
	tests := []struct{ name, raw, status string }{
		{"no host", "GET / HTTP/1.1\r\n\r\n", "400"},
		{"bad length", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1x\r\n\r\n", "400"},
		{"length and chunked", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "400"},
		{"bare CR", "GET / HTTP/1.1\r\nHost: x\r\nX: a\rb\r\n\r\n", "400"},
		{"bare LF", "GET / HTTP/1.1\nHost: x\r\n\r\n", "400"},
		{"long line", "GET /" + strings.Repeat("a", 9000) + " HTTP/1.1\r\nHost: x\r\n\r\n", "414"},
		{"large header", "GET / HTTP/1.1\r\nHost: x\r\nX: " + strings.Repeat("a", 17000) + "\r\n\r\n", "431"},
		{"large body", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n\r\n", "413"},
		{"bad chunk", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;\r\nhello\r\n0\r\n\r\n", "400"},
		{"unknown method", "BREW / HTTP/1.1\r\nHost: x\r\n\r\n", "501"},
		{"http/2", "GET / HTTP/2.0\r\nHost: x\r\n\r\n", "505"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, closed := exchange(t, addr, tc.raw+next, quiet)
			if !strings.HasPrefix(got, "HTTP/1.1 "+tc.status+" ") || !closed {
				t.Fatalf("got %q (closed %v); want %s, closed", got, closed, tc.status)
			}
			if strings.Count(got, "\r\n\r\n") != 1 || strings.Contains(got, "/smuggled") || !strings.Contains(got, "Connection: close\r\n") ||
				!strings.Contains(got, "application/problem+json") {
				t.Errorf("got %q; want one problem response with Connection: close", got)
			}
		})
	}
}

func TestPanicAnswers500(t *testing.T) {
	boom := HandlerFunc(func(w *ResponseWriter, r *Request) { panic("boom") })
	_, addr := start(t, boom, nil)
	got, closed := exchange(t, addr, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", quiet)
	if !strings.HasPrefix(got, "HTTP/1.1 500 ") || !closed {
		t.Errorf("got %q (closed %v); want 500, closed", got, closed)
	}
}

// TestRefusedBodyWins: when the body turns out malformed, the client gets
// the refusal, not what the handler wrote.
func TestRefusedBodyWins(t *testing.T) {
	ok := HandlerFunc(func(w *ResponseWriter, r *Request) {
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(201)
	})
	_, addr := start(t, ok, nil)
	got, closed := exchange(t, addr, "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n", quiet)
	if !strings.HasPrefix(got, "HTTP/1.1 400 ") || !closed {
		t.Errorf("got %q (closed %v); want 400, closed", got, closed)
	}
}
