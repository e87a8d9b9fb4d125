package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"

	"kvhttp/wire"
)

// A Handler answers a request by writing to w. It runs on the connection's
// goroutine; the request and everything it refers to are valid only until
// it returns.
type Handler interface {
	ServeHTTP(w *ResponseWriter, r *Request)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(w *ResponseWriter, r *Request)

// ServeHTTP calls f(w, r).
func (f HandlerFunc) ServeHTTP(w *ResponseWriter, r *Request) { f(w, r) }

var _ Handler = HandlerFunc(nil)

// A NonBlockingHandler is a Handler that can answer some requests without
// blocking, possibly finishing the response later (ResponseWriter.Later):
// a durable write, say, whose answer waits for a disk sync that other
// writes share. On Linux the server then serves such requests from its
// event loop (one goroutine watching every connection between requests)
// instead of from a goroutine per connection: a connection whose requests
// all go this way costs no goroutine wake-up of its own per request.
type NonBlockingHandler interface {
	Handler
	// TryServeHTTP answers r without blocking and reports true, or
	// reports false having read nothing of r's body and written nothing
	// to w; the server then calls ServeHTTP on a goroutine. The server
	// offers only requests whose whole body has arrived and that wait for
	// no 100-continue, so reading r.Body does not block.
	TryServeHTTP(w *ResponseWriter, r *Request) bool
}

// A RoundHandler is a NonBlockingHandler that takes part in the event
// loop's rounds. The loop works in rounds: it waits for events, sends the
// deferred responses that are done, serves what the ready connections
// sent (offering each request to TryServeHTTP), and waits again.
// BeginRound and EndRound bracket a round, so that the handler can gather
// the work the round's requests gave it and start it once, without
// waiting: the API hands the round's durable writes to its store
// together, and the store starts one log append and one sync for all of
// them at EndRound. RoundFD is a descriptor the loop watches for the end
// of such work; when it is readable, the loop calls RoundEvent as the
// next round begins, and the responses it completes (Done) are sent in
// that round. None of these but EndRounds may block: every connection of
// the loop waits meanwhile. Only the loop calls them, one at a time, on
// Linux.
type RoundHandler interface {
	NonBlockingHandler
	// RoundFD returns the descriptor to watch, or -1 for none. The loop
	// asks once, when it starts, and watches it, level-triggered, until
	// it stops; RoundEvent must make it unreadable again, or the loop
	// spins. If the loop cannot watch it, it calls none of the methods
	// below: the handler must then not rely on rounds.
	RoundFD() int
	// BeginRound begins a round, before any of its TryServeHTTP calls.
	BeginRound()
	// RoundEvent is called when RoundFD is readable, before BeginRound.
	RoundEvent()
	// EndRound ends the round BeginRound began, after its last
	// TryServeHTTP.
	EndRound()
	// EndRounds is called once, when the loop stops, after its last
	// round: the work the rounds started must end without RoundEvent,
	// and the responses it completes are sent from goroutines. It may
	// wait for that work, briefly.
	EndRounds()
}

// Request is a request being handled: its parsed head, its body and where
// it came from.
type Request struct {
	*wire.Request
	// Body reads the request body. A read error wrapping a
	// *wire.ProtocolError means the body was malformed or too large: the
	// server then answers with that error's status, whatever the handler
	// writes.
	Body       *Body
	RemoteAddr net.Addr
	ctx        context.Context
}

// Context is cancelled when the connection closes or the server is closed.
func (r *Request) Context() context.Context { return r.ctx }

// Body is the body of a request, read from the connection as the handler
// asks for it. The first read sends "100 Continue" if the client waits for
// one; a handler that never reads lets the server answer at once.
type Body struct {
	c   *conn
	err error // a protocol error met while reading
}

var _ io.Reader = (*Body)(nil)

// Read reads body bytes; io.EOF at the end of the body.
func (b *Body) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	for {
		if b.c.wc.NeedsContinue() {
			b.c.out = b.c.wc.AppendContinue(b.c.out)
			if err := b.c.flush(); err != nil {
				return 0, b.fail(err)
			}
		}
		n, err := b.c.wc.ReadBody(p)
		if !errors.Is(err, wire.ErrNeedMore) {
			if err != nil && !errors.Is(err, io.EOF) {
				return n, b.fail(err)
			}
			return n, err
		}
		if err := b.c.fill(); err != nil {
			return 0, b.fail(err)
		}
	}
}

func (b *Body) fail(err error) error {
	b.err = err
	return err
}

// ResponseWriter collects a response. Unless the handler calls Flush, the
// whole response is buffered and sent after the handler returns, with Date
// and Content-Length added.
type ResponseWriter struct {
	c         *conn
	status    int
	header    wire.Header
	body      []byte
	streaming bool // the head is out: the body goes in pieces
	aborted   bool
	later     bool // Later was called: Done sends the response
}

var _ io.Writer = (*ResponseWriter)(nil)

// Header returns the response's header fields, to change before Write.
func (w *ResponseWriter) Header() *wire.Header { return &w.header }

// WriteHeader sets the status code; the first call wins. A handler that
// never calls it answers 200.
func (w *ResponseWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
}

// Write appends p to the response body.
func (w *ResponseWriter) Write(p []byte) (int, error) {
	w.body = append(w.body, p...)
	return len(p), nil
}

// WriteString appends s to the response body.
func (w *ResponseWriter) WriteString(s string) (int, error) {
	w.body = append(w.body, s...)
	return len(s), nil
}

// Buffer returns the body written so far, for append-style encoders:
// w.SetBuffer(strconv.AppendInt(w.Buffer(), n, 10)).
func (w *ResponseWriter) Buffer() []byte { return w.body }

// SetBuffer replaces the body with b, typically the result of appending
// to Buffer().
func (w *ResponseWriter) SetBuffer(b []byte) { w.body = b }

// Flush sends the response so far and lets the handler go on writing. The
// first Flush sends the head, announcing a body of unknown length (chunked;
// to an HTTP/1.0 client, ended by closing the connection); each Flush sends
// the body written since. Streaming keeps memory bounded for large bodies;
// a response never flushed is sent whole, with Content-Length. After the
// first Flush, the status and header fields can no longer change. If the
// write fails (the client went away, or stopped reading past the write
// timeout), the response is aborted: the handler should stop, and the
// connection closes; later Flushes write nothing and return ErrAborted.
func (w *ResponseWriter) Flush() error {
	c := w.c
	if w.aborted {
		return ErrAborted
	}
	if !w.streaming {
		c.finishHeader()
		out, err := c.wc.AppendStreamHead(c.out, w.statusOr200(), &w.header)
		if err != nil {
			return fmt.Errorf("server: flush: %w", err)
		}
		c.out, w.streaming = out, true
	}
	c.out = c.wc.AppendStreamData(c.out, w.body)
	w.body = w.body[:0]
	if err := c.flush(); err != nil {
		// Part of a chunk may have gone out: nothing more can follow it
		// on this connection, which closes once the handler returns.
		w.aborted = true
		return err
	}
	return nil
}

// Later lets the handler finish the response after it returns: it may
// then set the status, header fields and body from any goroutine, and
// must call Done exactly once when they are complete. It first reads out
// what the handler left of the request body, so that a malformed body is
// still refused; it reports false if that failed (or if the response was
// already flushed), and the handler must then answer as usual, before it
// returns. The request, and anything of it the handler holds, is valid
// only until the handler returns. A Done that comes before the handler
// returns is fine: the response then goes as if it had not been deferred.
func (w *ResponseWriter) Later() bool {
	c := w.c
	if w.streaming || w.later {
		return false
	}
	c.discardBody()
	if c.body.err != nil || c.wc.State() == wire.StateBody {
		return false
	}
	w.later = true
	c.later.Store(laterPending)
	return true
}

// Done sends the response that Later deferred. After Done, w belongs to
// the server again.
func (w *ResponseWriter) Done() {
	c := w.c
	if c.later.CompareAndSwap(laterPending, laterEarly) {
		return // the handler has not returned: it sends the response
	}
	if c.later.CompareAndSwap(laterHandedOver, laterNone) {
		c.completed()
	}
	// Otherwise the handler panicked after Later, and its 500 is out.
}

// The states of a deferred response (conn.later), which decide who sends
// it: Later sets pending; if Done comes first, early, and the server
// sends it when the handler returns; if the handler returns first, handed
// over, and Done sends it.
const (
	laterNone int32 = iota
	laterPending
	laterEarly
	laterHandedOver
)

// deferred reports, once the handler has returned, whether its response
// is deferred and now belongs to Done; false if it was not deferred, or
// Done has come already and the response is to be sent now.
func (w *ResponseWriter) deferred() bool {
	if !w.later {
		return false
	}
	w.later = false
	if w.c.later.CompareAndSwap(laterPending, laterHandedOver) {
		return true
	}
	w.c.later.Store(laterNone) // early
	return false
}

// ErrAborted is returned by Flush once the response was aborted.
var ErrAborted = errors.New("server: response aborted")

// Abort gives up on a response that cannot be completed (its data source
// failed). After the first Flush, the connection closes without ending the
// body, so the client sees the response as incomplete rather than as a
// short but valid one: a chunked body lacks its last chunk, and a body
// delimited by the close (to an HTTP/1.0 client) ends with a reset rather
// than an orderly close. Before it, Abort drops the status, header fields
// and body written so far: the handler can still answer with an error.
func (w *ResponseWriter) Abort() {
	if w.streaming {
		w.aborted = true
		return
	}
	w.reset()
}

func (w *ResponseWriter) statusOr200() int {
	if w.status == 0 {
		return 200
	}
	return w.status
}

// reset prepares w for the next response, keeping its memory unless a
// large response grew it.
func (w *ResponseWriter) reset() {
	w.status, w.streaming, w.aborted, w.later = 0, false, false, false
	w.header.Reset()
	if cap(w.body) > maxKeptBuffer {
		w.body = nil
	}
	w.body = w.body[:0]
}

// replace answers with a problem instead of what the handler wrote, and
// reports true; once the head is out it is too late for that, and it
// aborts the response instead.
func (w *ResponseWriter) replace(status int, detail string) bool {
	if w.streaming {
		w.aborted = true
		return false
	}
	w.writeProblem(status, detail)
	return true
}

// problem is an RFC 9457 problem detail for a status the server itself
// decided (a refused request, a panic, overload).
type problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail,omitempty"`
}

// writeProblem replaces the response with a problem. It is off the hot
// path: encoding/json's allocations do not matter here.
func (w *ResponseWriter) writeProblem(status int, detail string) {
	w.reset()
	w.status = status
	w.header.Add("Content-Type", "application/problem+json")
	b, _ := json.Marshal(problem{Type: "about:blank", Title: wire.StatusText(status), Status: status, Detail: detail})
	w.body = append(append(w.body, b...), '\n')
}
