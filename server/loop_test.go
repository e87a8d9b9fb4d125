package server

import (
	"bufio"
	"bytes"
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

// mustBeRefused reads a reply that must have the status and
// "Connection: close", and checks that the connection then closes.
func (c *client) mustBeRefused(t *testing.T, status int) {
	t.Helper()
	got, err := c.read()
	if err != nil || got.Status != status || !got.Close {
		t.Fatalf("got %+v, %v; want %d with Connection: close", got, err, status)
	}
	if err := c.closed(); err != nil {
		t.Errorf("after the %d: %v; want the connection closed", status, err)
	}
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
