package server

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// Tests of deferred responses (NonBlockingHandler, ResponseWriter.Later)
// and of the event loop that serves connections after one (loop.go). On
// Linux the loop serves them; elsewhere there is no loop, the server
// never calls TryServeHTTP, and the same exchanges go through ServeHTTP,
// which deferring makes answer alike: only X-Via differs (see via).

// deferring is a NonBlockingHandler. Its TryServeHTTP, by path prefix:
//
//	GET, HEAD: declines; ServeHTTP answers 200 "slow path <path>".
//	/later: reads the body, defers the answer (Later), and gives it from
//	  another goroutine after delay, once TryServeHTTP has returned: 201
//	  with the body echoed.
//	/unread: as /later, but leaves the body for Later to read out, and
//	  echoes nothing.
//	/hold: as /later, but sends its path to held, and answers only once
//	  the test calls release.
//	/ctx: as /hold, but answers only once the request's context is done
//	  (503), counted in cancelled.
//	/early: as /later, but calls Done before it returns.
//	/race: as /later, from a goroutine started just before it returns.
//	/sync: answers 200 with the body at once, without Later.
//	/big: as /later, with a body of as many bytes as the request's body
//	  says, from pattern.
//	/panic: panics; /panic-later panics after Later.
//
// Each answer has X-Path, the request's path, and X-Via: "loop" if the
// event loop offered the request, "try" if a connection's goroutine did,
// "serve" from ServeHTTP. ServeHTTP answers every request as TryServeHTTP
// does, on the spot.
type deferring struct {
	delay     time.Duration
	held      chan string
	release   chan struct{}
	once      sync.Once
	cancelled atomic.Int32
}

func newDeferring() *deferring {
	return &deferring{delay: time.Millisecond, held: make(chan string, 64), release: make(chan struct{})}
}

var _ NonBlockingHandler = (*deferring)(nil)

// releaseAll lets every /hold answer go, now and from now on.
func (h *deferring) releaseAll() { h.once.Do(func() { close(h.release) }) }

// waitHeld waits up to 5 s for n /hold requests to be deferred.
func (h *deferring) waitHeld(t *testing.T, n int) {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for range n {
		select {
		case <-h.held:
		case <-timeout:
			t.Fatalf("waited 5 s for %d held requests", n)
		}
	}
}

// answer returns the status and body due for a request whose
// TryServeHTTP would not decline.
func (h *deferring) answer(path string, body []byte) (int, []byte) {
	switch {
	case strings.HasPrefix(path, "/sync"):
		return 200, body
	case strings.HasPrefix(path, "/unread"):
		return 201, nil
	case strings.HasPrefix(path, "/big"):
		n, _ := strconv.Atoi(string(body))
		return 201, pattern(n)
	}
	return 201, body
}

func (h *deferring) ServeHTTP(w *ResponseWriter, r *Request) {
	path := string(r.Path)
	w.Header().Add("X-Path", path)
	w.Header().Add("X-Via", "serve")
	var body []byte
	if !strings.HasPrefix(path, "/unread") {
		var err error
		if body, err = io.ReadAll(r.Body); err != nil {
			return // the server answers a refused body
		}
	}
	switch {
	case r.Method == "GET" || r.Method == "HEAD":
		w.WriteString("slow path " + path)
		return
	case strings.HasPrefix(path, "/panic"):
		panic("boom: " + path)
	case strings.HasPrefix(path, "/hold"):
		h.held <- path
		<-h.release
	case strings.HasPrefix(path, "/ctx"):
		h.held <- path
		<-r.Context().Done()
		h.cancelled.Add(1)
		w.WriteHeader(503)
		return
	}
	status, out := h.answer(path, body)
	w.WriteHeader(status)
	w.Write(out)
}

func (h *deferring) TryServeHTTP(w *ResponseWriter, r *Request) bool {
	if r.Method == "GET" || r.Method == "HEAD" {
		return false
	}
	path := string(r.Path)
	via := "try"
	if inLoop() {
		via = "loop"
	}
	w.Header().Add("X-Path", path)
	w.Header().Add("X-Via", via)
	if path == "/panic" {
		panic("boom: " + path)
	}
	var body []byte
	if !strings.HasPrefix(path, "/unread") {
		var err error
		if body, err = io.ReadAll(r.Body); err != nil {
			return true // the server answers a refused body
		}
	}
	if strings.HasPrefix(path, "/sync") {
		w.Write(body)
		return true
	}
	if !w.Later() {
		w.WriteHeader(500)
		w.WriteString("Later refused")
		return true
	}
	if path == "/panic-later" {
		panic("boom: " + path)
	}
	status, out := h.answer(path, body)
	finish := func() {
		w.WriteHeader(status)
		w.Write(out)
		w.Done()
	}
	switch {
	case strings.HasPrefix(path, "/early"):
		finish()
	case strings.HasPrefix(path, "/race"):
		go finish()
	case strings.HasPrefix(path, "/hold"):
		h.held <- path
		go func() {
			<-h.release
			handedOver(w)
			finish()
		}()
	case strings.HasPrefix(path, "/ctx"):
		h.held <- path
		ctx := r.Context()
		go func() {
			<-ctx.Done()
			h.cancelled.Add(1)
			handedOver(w)
			w.WriteHeader(503)
			w.Done()
		}()
	default:
		go func() {
			if h.delay > 0 {
				time.Sleep(h.delay)
			}
			handedOver(w)
			finish()
		}()
	}
	return true
}

// handedOver waits, for up to 5 s, until TryServeHTTP has returned and
// the server has left the deferred response to Done, so that the Done
// that follows comes after that: a Done racing the return is /race's
// business, and one before it /early's. (Which of the two a Done comes
// after decides which goroutine goes on serving the connection.)
func handedOver(w *ResponseWriter) {
	for end := time.Now().Add(5 * time.Second); w.c.later.Load() == laterPending && time.Now().Before(end); {
		time.Sleep(20 * time.Microsecond)
	}
}

// inLoop reports whether the caller runs on the event loop: a request the
// loop offers to TryServeHTTP is driven by conn.drive.
func inLoop() bool {
	var buf [16 << 10]byte
	n := runtime.Stack(buf[:], false)
	return bytes.Contains(buf[:n], []byte("kvhttp/server.(*conn).drive("))
}

// pattern returns n bytes that are not all alike.
func pattern(n int) []byte {
	const alphabet = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-"
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[(i+i/len(alphabet))%len(alphabet)]
	}
	return b
}

// startDeferring serves h on a loopback port until the test ends; it
// releases h's held answers at the end (Close waits for them), and fails
// the test rather than hang if Close does not return within 10 s.
func startDeferring(t *testing.T, h *deferring, configure func(*Server)) (*Server, string) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return serveDeferring(t, l, h, configure), l.Addr().String()
}

// serveDeferring is startDeferring on l.
func serveDeferring(t *testing.T, l net.Listener, h *deferring, configure func(*Server)) *Server {
	t.Helper()
	s := &Server{Handler: h, Logger: slog.New(slog.DiscardHandler)}
	if configure != nil {
		configure(s)
	}
	s.init()
	served := make(chan error, 1)
	go func() { served <- s.Serve(l) }()
	t.Cleanup(func() {
		h.releaseAll()
		if !closeWithin(s, 10*time.Second) {
			t.Errorf("Close: still waiting after 10 s; goroutines:\n%s", allStacks())
			return
		}
		select {
		case err := <-served:
			if !errors.Is(err, ErrServerClosed) {
				t.Errorf("Serve: got %v; want %v", err, ErrServerClosed)
			}
		case <-time.After(5 * time.Second):
			t.Error("Serve: still running 5 s after Close")
		}
	})
	return s
}

// closeWithin closes s and reports whether Close returned within d.
func closeWithin(s *Server, d time.Duration) bool {
	closed := make(chan struct{})
	go func() {
		s.Close()
		close(closed)
	}()
	select {
	case <-closed:
		return true
	case <-time.After(d):
		return false
	}
}

// looping reports whether s serves deferring connections from its event
// loop: on Linux.
func looping(s *Server) bool { return s.nonBlocking != nil }

// via returns the X-Via due where the loop runs, or "serve" where it does
// not: there ServeHTTP answers everything.
func via(s *Server, loopVia string) string {
	if !looping(s) {
		return "serve"
	}
	return loopVia
}

func allStacks() []byte {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return buf[:n]
		}
		buf = make([]byte, 2*len(buf))
	}
}

// connGoroutines counts the goroutines serving connections, of every
// server in the process.
func connGoroutines() int {
	k := 0
	for _, g := range bytes.Split(allStacks(), []byte("\n\n")) {
		if bytes.Contains(g, []byte("kvhttp/server.(*conn).")) {
			k++
		}
	}
	return k
}

// Requests.

func put(path, body string) string {
	return "PUT " + path + " HTTP/1.1\r\nHost: x\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
}

func get(path string) string { return "GET " + path + " HTTP/1.1\r\nHost: x\r\n\r\n" }

// reply is what a client gets: the status, X-Via (not checked when
// wanted empty), X-Path, the body, and whether the server said
// "Connection: close".
type reply struct {
	Status    int
	Via, Path string
	Body      string
	Close     bool
}

func (r reply) matches(want reply) bool {
	if want.Via == "" {
		r.Via = ""
	}
	return r == want
}

// request returns a request of a kind (a deferring path prefix, or
// "get"), numbered i, and the reply due, X-Via aside but for get.
func request(kind string, i int) (string, reply) {
	path := fmt.Sprintf("/%s/%d", kind, i)
	body := fmt.Sprintf("body %s %d", kind, i)
	switch kind {
	case "get":
		return get(path), reply{Status: 200, Via: "serve", Path: path, Body: "slow path " + path}
	case "sync":
		return put(path, body), reply{Status: 200, Path: path, Body: body}
	case "unread":
		return put(path, body), reply{Status: 201, Path: path}
	}
	return put(path, body), reply{Status: 201, Path: path, Body: body}
}

// client talks to the server with raw bytes, and parses the responses
// with net/http.
type client struct {
	nc net.Conn
	br *bufio.Reader
}

func dialClient(t *testing.T, addr string) *client {
	t.Helper()
	nc := dial(t, addr)
	return &client{nc: nc, br: bufio.NewReader(nc)}
}

func newClient(t *testing.T, nc net.Conn) *client {
	t.Cleanup(func() { nc.Close() })
	return &client{nc: nc, br: bufio.NewReader(nc)}
}

func (c *client) send(raw string) error {
	c.nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, err := c.nc.Write([]byte(raw))
	return err
}

// read reads one response, within 5 s.
func (c *client) read() (reply, error) {
	return c.readWithin(5 * time.Second)
}

func (c *client) readWithin(d time.Duration) (reply, error) {
	c.nc.SetReadDeadline(time.Now().Add(d))
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		return reply{}, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return reply{}, err
	}
	return reply{Status: resp.StatusCode, Via: resp.Header.Get("X-Via"), Path: resp.Header.Get("X-Path"), Body: string(body), Close: resp.Close}, nil
}

func (c *client) roundTrip(raw string) (reply, error) {
	if err := c.send(raw); err != nil {
		return reply{}, err
	}
	return c.read()
}

// closed reports nil if the server closes the connection (an orderly
// close or a reset) within 5 s, having sent nothing more.
func (c *client) closed() error {
	c.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	b, err := io.ReadAll(c.br)
	switch {
	case len(b) > 0:
		return fmt.Errorf("got %q more before the close", b)
	case err == nil || errors.Is(err, syscall.ECONNRESET):
		return nil
	}
	return err
}

// mustRoundTrip sends raw and checks the reply.
func (c *client) mustRoundTrip(t *testing.T, raw string, want reply) {
	t.Helper()
	got, err := c.roundTrip(raw)
	if err != nil {
		t.Fatalf("%s: %v", firstLine(raw), err)
	}
	if !got.matches(want) {
		t.Fatalf("%s: got %+v; want %+v", firstLine(raw), got, want)
	}
}

// warm sends two deferred requests: whether the connection was in the
// loop or not before, the second is answered in it, where there is one,
// and the connection stays there.
func (c *client) warm(t *testing.T, s *Server) {
	t.Helper()
	for i, v := range []string{"", via(s, "loop")} {
		raw, want := request("later", 1000+i)
		want.Via = v
		c.mustRoundTrip(t, raw, want)
	}
}

func firstLine(raw string) string {
	line, _, _ := strings.Cut(raw, "\r\n")
	return line
}

// TestLoopKeepAlive: deferred answers on one persistent connection are
// right and in order; from the second on, the loop serves them; a
// declined request sends the connection back to a goroutine, and the next
// deferral brings it to the loop again. Answers given without deferring
// (Done before returning, or no Later) leave it where it is.
func TestLoopKeepAlive(t *testing.T) {
	s, addr := startDeferring(t, newDeferring(), nil)
	c := dialClient(t, addr)
	steps := []struct {
		kind, via string // via: where the loop runs
	}{
		{"later", "try"}, // first: on the connection's goroutine
		{"later", "loop"},
		{"later", "loop"},
		{"sync", "loop"},
		{"early", "loop"},
		{"unread", "loop"},
		{"get", "serve"}, // declined: back to a goroutine
		{"later", "try"},
		{"later", "loop"},
		{"get", "serve"},
		{"get", "serve"},
		{"sync", "try"},
		{"early", "try"},
		{"unread", "try"},
		{"later", "loop"},
		{"get", "serve"},
	}
	for round := range 5 {
		for i, step := range steps {
			raw, want := request(step.kind, round*100+i)
			want.Via = via(s, step.via)
			c.mustRoundTrip(t, raw, want)
		}
	}
	// A POST, a DELETE and an empty body go the same way.
	for i, raw := range []string{
		"POST /later/post HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\npost",
		"DELETE /later/delete HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
		"DELETE /later/nolength HTTP/1.1\r\nHost: x\r\n\r\n",
		put("/later/empty", ""),
	} {
		_, body, _ := strings.Cut(raw, "\r\n\r\n")
		want := reply{Status: 201, Via: via(s, "loop"), Path: strings.Fields(raw)[1], Body: body}
		if i == 0 {
			want.Via = via(s, "try") // after the GET
		}
		c.mustRoundTrip(t, raw, want)
	}
}

// TestLoopPipelining: requests sent in one write, deferred ones mixed
// with declined ones and others, are all answered, in order, whether the
// connection starts on its goroutine or in the loop; many more than
// bulkAfter in one write, too.
func TestLoopPipelining(t *testing.T) {
	mixed := []string{"later", "get", "later", "later", "sync", "early", "get", "race", "unread", "later", "later", "get"}
	var deferredOnly, many []string
	for i := range 3 * bulkAfter {
		deferredOnly = append(deferredOnly, "later")
		many = append(many, mixed[i%len(mixed)])
	}
	var gets []string
	for range 2 * bulkAfter {
		gets = append(gets, "get")
	}
	// Past bulkAfter declined requests on the goroutine, which takes a
	// turn, then a deferral, then more.
	bulkThenDeferred := append(append(append([]string{}, gets...), "race", "later"), deferredOnly...)
	tests := []struct {
		name  string
		kinds []string
	}{
		{"mixed", mixed},
		{"deferred only", deferredOnly},
		{"many mixed", many},
		{"bulk then deferred", bulkThenDeferred},
	}
	for _, tc := range tests {
		for _, warm := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/warm=%v", tc.name, warm), func(t *testing.T) {
				h := newDeferring()
				h.delay = 0
				s, addr := startDeferring(t, h, nil)
				c := dialClient(t, addr)
				if warm {
					c.warm(t, s)
				}
				for round := range 3 {
					var raw strings.Builder
					var wants []reply
					for i, kind := range tc.kinds {
						r, want := request(kind, round*10000+i)
						raw.WriteString(r)
						wants = append(wants, want)
					}
					if err := c.send(raw.String()); err != nil {
						t.Fatal(err)
					}
					for i, want := range wants {
						got, err := c.read()
						if err != nil {
							t.Fatalf("round %d, response %d: %v", round, i, err)
						}
						if !got.matches(want) {
							t.Fatalf("round %d, response %d: got %+v; want %+v", round, i, got, want)
						}
					}
				}
				// Still usable, and the loop takes it again.
				c.warm(t, s)
			})
		}
	}
}

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

// TestLaterEarlyDone: a Done before TryServeHTTP returns sends the answer
// as if it had not been deferred, many times over, on the connection's
// goroutine (which it does not leave) and in the loop; so does a Done
// racing the return.
func TestLaterEarlyDone(t *testing.T) {
	s, addr := startDeferring(t, newDeferring(), nil)
	c := dialClient(t, addr)
	for i := range 100 {
		raw, want := request("early", i)
		want.Via = via(s, "try")
		c.mustRoundTrip(t, raw, want)
	}
	c.warm(t, s)
	for i := range 300 {
		kind := []string{"early", "race", "later"}[i%3]
		raw, want := request(kind, i)
		want.Via = via(s, "loop")
		c.mustRoundTrip(t, raw, want)
	}
	// Racing on the goroutine: either way the answers are right.
	for i := range 100 {
		kind := []string{"race", "get"}[i%2]
		raw, want := request(kind, i)
		c.mustRoundTrip(t, raw, want)
	}
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

// TestDeferredClientGoes: a client that goes away while its answer is
// deferred costs the server nothing once the answer is done: the
// connection ends, its goroutines too, and Close returns.
func TestDeferredClientGoes(t *testing.T) {
	tests := []struct {
		name  string
		warm  bool   // in the loop before
		extra string // sent after the held request
		reset bool   // close with a reset
	}{
		{"on its goroutine", false, "", false},
		{"in the loop", true, "", false},
		{"on its goroutine, more sent", false, put("/later/more", "more"), false},
		{"in the loop, more sent", true, put("/later/more", "more") + get("/get/more"), false},
		{"on its goroutine, reset", false, "", true},
		{"in the loop, reset", true, "", true},
		{"in the loop, half a request sent", true, "PUT /later/half HTTP/1.1\r\nHo", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newDeferring()
			s, addr := startDeferring(t, h, nil)
			c := dialClient(t, addr)
			if tc.warm {
				c.warm(t, s)
			}
			if err := c.send(put("/hold/1", "held") + tc.extra); err != nil {
				t.Fatal(err)
			}
			h.waitHeld(t, 1)
			if tc.reset {
				c.nc.(*net.TCPConn).SetLinger(0)
			}
			c.nc.Close()
			time.Sleep(20 * time.Millisecond) // let the close arrive before the answer
			h.releaseAll()
			waitFor(t, "the connection to end", func() bool { return s.connCount() == 0 })
			waitFor(t, "its goroutines to end", func() bool { return connGoroutines() == 0 })
			if !closeWithin(s, 5*time.Second) {
				t.Fatalf("Close: still waiting after 5 s; goroutines:\n%s", allStacks())
			}
		})
	}
}

// TestDeferredShutdown: Shutdown closes idle connections, those in the
// loop too, and waits for deferred answers, which go with
// "Connection: close", before it returns nil.
func TestDeferredShutdown(t *testing.T) {
	h := newDeferring()
	s, addr := startDeferring(t, h, nil)
	var idle []*client
	for range 5 {
		c := dialClient(t, addr)
		c.warm(t, s)
		idle = append(idle, c)
	}
	fresh := dialClient(t, addr) // its answer deferred on its goroutine
	looped := dialClient(t, addr)
	looped.warm(t, s) // its answer deferred in the loop
	if err := fresh.send(put("/hold/fresh", "fresh")); err != nil {
		t.Fatal(err)
	}
	if err := looped.send(put("/hold/looped", "looped") + put("/later/never", "never")); err != nil {
		t.Fatal(err)
	}
	h.waitHeld(t, 2)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- s.Shutdown(ctx) }()
	for i, c := range idle {
		if err := c.closed(); err != nil {
			t.Errorf("idle connection %d: %v; want it closed by Shutdown", i, err)
		}
	}
	select {
	case err := <-done:
		t.Fatalf("Shutdown returned %v before the deferred answers went", err)
	case <-time.After(100 * time.Millisecond):
	}
	h.releaseAll()
	for _, tc := range []struct {
		c    *client
		want reply
	}{
		{fresh, reply{Status: 201, Via: via(s, "try"), Path: "/hold/fresh", Body: "fresh", Close: true}},
		{looped, reply{Status: 201, Via: via(s, "loop"), Path: "/hold/looped", Body: "looped", Close: true}},
	} {
		got, err := tc.c.read()
		if err != nil || !got.matches(tc.want) {
			t.Errorf("got %+v, %v; want %+v", got, err, tc.want)
			continue
		}
		if err := tc.c.closed(); err != nil {
			t.Errorf("%s: %v; want the connection closed after the answer", tc.want.Path, err)
		}
	}
	if err := <-done; err != nil {
		t.Errorf("Shutdown: got %v; want nil", err)
	}
	if n := s.connCount(); n != 0 {
		t.Errorf("after Shutdown: got %d connections; want 0", n)
	}
}

// TestDeferredClose: Close closes idle connections, those in the loop
// too, cancels the contexts of requests whose answers are deferred, and
// returns once the deferred answers are done, leaving no goroutine
// behind.
func TestDeferredClose(t *testing.T) {
	h := newDeferring()
	s, addr := startDeferring(t, h, nil)
	idle := dialClient(t, addr)
	idle.warm(t, s)
	fresh := dialClient(t, addr)
	looped := dialClient(t, addr)
	looped.warm(t, s)
	waiting := dialClient(t, addr) // its handler answers once the context is done
	waiting.warm(t, s)
	if err := fresh.send(put("/hold/fresh", "fresh")); err != nil {
		t.Fatal(err)
	}
	if err := looped.send(put("/hold/looped", "looped")); err != nil {
		t.Fatal(err)
	}
	if err := waiting.send(put("/ctx/waiting", "")); err != nil {
		t.Fatal(err)
	}
	h.waitHeld(t, 3)

	done := make(chan struct{})
	go func() {
		s.Close()
		close(done)
	}()
	if err := idle.closed(); err != nil {
		t.Errorf("idle connection: %v; want it closed by Close", err)
	}
	select {
	case <-done:
		t.Fatal("Close returned before the held answers were done")
	case <-time.After(100 * time.Millisecond):
	}
	h.releaseAll()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatalf("Close: still waiting 5 s after the answers were done; goroutines:\n%s", allStacks())
	}
	if n := h.cancelled.Load(); n != 1 {
		t.Errorf("got %d handlers seeing their context done; want 1", n)
	}
	for name, c := range map[string]*client{"fresh": fresh, "looped": looped, "waiting": waiting} {
		c.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.ReadAll(c.br); err != nil && !errors.Is(err, syscall.ECONNRESET) {
			t.Errorf("%s: got %v; want the connection closed", name, err)
		}
	}
	if n := s.connCount(); n != 0 {
		t.Errorf("after Close: got %d connections; want 0", n)
	}
	waitFor(t, "the connections' goroutines to end", func() bool { return connGoroutines() == 0 })
}

// TestDeferredCloseClosesSockets: once Close has been called, every
// client sees its connection closed, even one whose answer is still
// deferred.
func TestDeferredCloseClosesSockets(t *testing.T) {
	for _, warm := range []bool{false, true} {
		t.Run(fmt.Sprintf("warm=%v", warm), func(t *testing.T) {
			h := newDeferring()
			s, addr := startDeferring(t, h, nil)
			c := dialClient(t, addr)
			if warm {
				c.warm(t, s)
			}
			if err := c.send(put("/hold/1", "held")); err != nil {
				t.Fatal(err)
			}
			h.waitHeld(t, 1)
			go s.Close() // returns once released, at the end
			c.nc.SetReadDeadline(time.Now().Add(2 * time.Second))
			if b, err := io.ReadAll(c.br); err != nil && !errors.Is(err, syscall.ECONNRESET) {
				t.Errorf("got %q, %v; want the connection closed while its answer is held", b, err)
			}
		})
	}
}

// TestLoopManyConns: many connections, each sending many requests one
// at a time, mostly deferred, all get their answers.
func TestLoopManyConns(t *testing.T) {
	h := newDeferring()
	h.delay = 0
	s, addr := startDeferring(t, h, nil)
	const conns, requests = 50, 200
	clients := make([]*client, conns)
	for i := range clients {
		clients[i] = dialClient(t, addr)
	}
	var wg sync.WaitGroup
	for n, c := range clients {
		wg.Go(func() {
			for i := range requests {
				kind := "later"
				switch {
				case i%20 == 10:
					kind = "get"
				case i%7 == 3:
					kind = "early"
				case i%11 == 5:
					kind = "race"
				}
				raw, want := request(kind, n*requests+i)
				got, err := c.roundTrip(raw)
				if err != nil {
					t.Errorf("connection %d, request %d: %v", n, i, err)
					return
				}
				if !got.matches(want) {
					t.Errorf("connection %d, request %d: got %+v; want %+v", n, i, got, want)
					return
				}
			}
		})
	}
	wg.Wait()
	if !looping(s) {
		return
	}
	// The connections are idle in the loop's epoll set now.
	waitFor(t, "every connection to park", func() bool { return s.parker.count() == conns })
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
				got, err := c.read()
				if err != nil || got.Status != tc.status || !got.Close {
					t.Fatalf("got %+v, %v; want %d with Connection: close", got, err, tc.status)
				}
				if err := c.closed(); err != nil {
					t.Errorf("after the %d: %v; want the connection closed", tc.status, err)
				}
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

// TestLoopIdleEnds: a connection idle in the loop ends when its client
// closes or half-closes it, or at its idle timeout, leaving nothing
// behind.
func TestLoopIdleEnds(t *testing.T) {
	tests := []struct {
		name string
		end  func(c *client)
	}{
		{"client closes", func(c *client) { c.nc.Close() }},
		{"client half-closes", func(c *client) { c.nc.(*net.TCPConn).CloseWrite() }},
		{"client resets", func(c *client) {
			c.nc.(*net.TCPConn).SetLinger(0)
			c.nc.Close()
		}},
		{"idle timeout", func(*client) {}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, addr := startDeferring(t, newDeferring(), func(s *Server) { s.IdleTimeout = 300 * time.Millisecond })
			c := dialClient(t, addr)
			c.warm(t, s)
			if looping(s) {
				waitFor(t, "the connection to park in the loop", func() bool { return s.parker.count() == 1 })
			}
			tc.end(c)
			waitFor(t, "the connection to end", func() bool { return s.connCount() == 0 })
			waitFor(t, "its goroutines to end", func() bool { return connGoroutines() == 0 })
			if tc.name != "client closes" && tc.name != "client resets" {
				if err := c.closed(); err != nil {
					t.Errorf("got %v; want the connection closed", err)
				}
			}
		})
	}
}

// TestLoopTimeouts: the loop sets no deadlines, but a request that
// arrives too slowly on a connection in the loop still times out (408),
// and a client that does not read a large deferred answer is still
// dropped at the write timeout.
func TestLoopTimeouts(t *testing.T) {
	tests := []struct {
		name   string
		raw    string
		status int // 0: dropped without an answer
	}{
		{"head", "PUT /later/slow HTTP/1.1\r\nHost: x\r\nContent-Le", 408},
		{"body", "PUT /later/slow HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nslow", 408},
		{"answer not read", put("/big/1", strconv.Itoa(16<<20)), 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, addr := startDeferring(t, newDeferring(), func(s *Server) {
				s.ReadHeaderTimeout = 200 * time.Millisecond
				s.ReadTimeout = 200 * time.Millisecond
				s.WriteTimeout = 200 * time.Millisecond
			})
			c := dialClient(t, addr)
			if err := c.nc.(*net.TCPConn).SetReadBuffer(32 << 10); err != nil {
				t.Fatal(err)
			}
			c.warm(t, s)
			if err := c.send(tc.raw); err != nil {
				t.Fatal(err)
			}
			if tc.status == 0 {
				waitFor(t, "the connection to be dropped", func() bool { return s.connCount() == 0 })
				return
			}
			got, err := c.read()
			if err != nil || got.Status != tc.status || !got.Close {
				t.Fatalf("got %+v, %v; want %d with Connection: close", got, err, tc.status)
			}
			if err := c.closed(); err != nil {
				t.Errorf("after the %d: %v; want the connection closed", tc.status, err)
			}
		})
	}
}

// TestLoopOtherConns: connections the server cannot read and write with
// raw system calls (here, ones wrapped to count writes) are never offered
// to TryServeHTTP: ServeHTTP answers all; a Unix socket's go through the
// loop as TCP ones do.
func TestLoopOtherConns(t *testing.T) {
	tests := []struct {
		name   string
		listen func(t *testing.T) net.Listener
		loop   bool // served by the loop, where there is one
	}{
		{"wrapped", func(t *testing.T) net.Listener {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			return &countingListener{Listener: l}
		}, false},
		{"unix", func(t *testing.T) net.Listener {
			l, err := net.Listen("unix", t.TempDir()+"/s")
			if err != nil {
				t.Skipf("no Unix sockets: %v", err)
			}
			return l
		}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := tc.listen(t)
			s := serveDeferring(t, l, newDeferring(), nil)
			nc, err := net.Dial(l.Addr().Network(), l.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			c := newClient(t, nc)
			steps := []struct{ kind, via string }{
				{"later", "try"},
				{"later", "loop"},
				{"early", "loop"},
				{"get", "serve"},
				{"later", "try"},
				{"later", "loop"},
				{"get", "serve"},
			}
			for round := range 3 {
				for i, step := range steps {
					raw, want := request(step.kind, round*100+i)
					if want.Via = via(s, step.via); !tc.loop {
						want.Via = "serve"
					}
					c.mustRoundTrip(t, raw, want)
				}
			}
			var raw strings.Builder
			var wants []reply
			for i := range 2 * bulkAfter {
				r, want := request([]string{"later", "get", "race", "sync"}[i%4], 1000+i)
				raw.WriteString(r)
				wants = append(wants, want)
			}
			if err := c.send(raw.String()); err != nil {
				t.Fatal(err)
			}
			for i, want := range wants {
				if got, err := c.read(); err != nil || !got.matches(want) {
					t.Fatalf("pipelined response %d: got %+v, %v; want %+v", i, got, err, want)
				}
			}
		})
	}
}
