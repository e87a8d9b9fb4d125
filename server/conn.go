package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync/atomic"
	"time"

	"kvhttp/internal/sockio"
	"kvhttp/wire"
)

const (
	readChunk     = 4 << 10  // least free space to read into
	flushAt       = 64 << 10 // write out once this much is pending
	maxKeptBuffer = 64 << 10 // larger buffers are dropped after use
	lingerTimeout = 500 * time.Millisecond
	lingerBytes   = 256 << 10
	// bulkAfter is how many requests from one read a connection answers
	// before it must take turns (see Server.bulk).
	bulkAfter = 64
)

// conn serves one connection. Everything here runs on the connection's
// goroutine (serve), except idle and nc.Close, which the Server uses to
// close it. A connection idle for parkAfter is parked (see parker): its
// goroutine ends and its buffers go; a new goroutine resumes it when its
// client sends again.
type conn struct {
	srv    *Server
	nc     net.Conn
	sock   sockio.Conn // reads and writes nc
	wc     wire.ServerConn
	out    []byte // responses not yet written
	w      ResponseWriter
	req    Request
	body   Body
	idle   atomic.Bool // blocked waiting for a request: Shutdown may close it
	ctx    context.Context
	cancel context.CancelFunc

	// The read deadline is set once per phase of a request, so that a
	// slow client cannot extend it a byte at a time.
	phase    wire.ConnState
	phaseReq uint64
	phaseEnd time.Time // when the phase's timeout passes
	// The deadlines set on nc. Between keep-alive requests they are
	// renewed only once they are 1/8 of their timeout old (see slack):
	// setting one costs a timer update in the runtime on every request.
	readBy     time.Time
	readByIdle bool // readBy was set for the idle phase, with slack
	writeBy    time.Time
	requests   uint64
	// dated is when the last response's Date was taken, zero once a
	// flush has used it: the flush that follows soon after sets its write
	// deadline from it instead of reading the clock again.
	dated time.Time
	eof   bool
	fd    int // the socket's descriptor while parked

	sinceRead int  // requests answered since the last read
	bulk      bool // holds a turn (Server.bulk)

	// The event loop (loop.go). A request the loop parsed but leaves to
	// a goroutine waits in next (with its error, nextErr) for it.
	next     *wire.Request
	nextErr  error
	held     bool         // next and nextErr hold a request or error
	declined bool         // TryServeHTTP declined next: do not offer it again
	looped   bool         // parked by the loop: the parker drives it when readable
	inEpoll  bool         // registered with the parker's epoll set (maybe disarmed)
	later    atomic.Int32 // a deferred response's state: laterNone etc.
	edge     bool         // registered edge-triggered: see parker.parkLooped
	// raw is the socket's descriptor while the connection is detached
	// from Go's poller (parker.detach), else -1: nc is closed then.
	raw    int
	unread atomic.Bool // edge-triggered: bytes may have arrived since the last read
}

// errPark: the connection has been idle for parkAfter and may be parked.
var errPark = errors.New("server: idle, to park")

func newConn(s *Server, nc net.Conn) *conn {
	c := &conn{srv: s, nc: nc, raw: -1}
	c.sock.Init(nc)
	c.wc.Limits = s.Limits
	c.ctx, c.cancel = context.WithCancel(s.ctx)
	c.body.c = c
	c.w.c = c
	c.req = Request{Body: &c.body, RemoteAddr: nc.RemoteAddr(), ctx: c.ctx}
	c.phase = wire.StateClosed // no deadline set yet
	return c
}

// serve runs the connection until it ends or is parked.
func (c *conn) serve() {
	if !c.loop() {
		c.end()
	}
}

// resume serves a parked connection whose client has sent again.
func (c *conn) resume() {
	c.idle.Store(false)
	if c.setReadDeadline(c.phaseEnd, false) != nil {
		c.nc.Close()
		c.end()
		return
	}
	c.serve()
}

// end lets go of a connection that is closed.
func (c *conn) end() {
	c.endTurn()
	c.cancel()
	c.srv.parker.forget(c)
	c.srv.forget(c)
}

// loop is the connection's loop: parse what has arrived, answer it, write
// the answers when nothing more is ready, read more. It returns true if the
// connection was parked, false once it is closed.
func (c *conn) loop() (parked bool) {
	for {
		r, err := c.nextRequest()
		switch {
		case err == nil:
			if c.sinceRead++; c.sinceRead > bulkAfter && !c.takeTurn() {
				c.nc.Close()
				return false
			}
			if c.handle(r) {
				return true // the response comes later: see completed
			}
			if c.w.aborted {
				c.abort(r.Minor == 0)
				return false
			}
			if len(c.out) >= flushAt && c.flush() != nil {
				c.nc.Close()
				return false
			}
		case errors.Is(err, wire.ErrNeedMore):
			err := c.fill()
			if errors.Is(err, errPark) {
				if c.park() {
					return true
				}
				err = c.setReadDeadline(c.phaseEnd, false)
			}
			if err != nil {
				// A 408 is a refusal like any other; the rest (the
				// client vanished, idle timeout, shutdown) ends quietly.
				var pe *wire.ProtocolError
				if errors.As(err, &pe) {
					c.refuse(err)
					c.close()
				} else {
					c.nc.Close()
				}
				return false
			}
		case errors.Is(err, io.EOF):
			c.close()
			return false
		default:
			c.refuse(err)
			c.close()
			return false
		}
	}
}

// park hands the idle connection to the server's parker, first letting go
// of its buffers: they are allocated again when it resumes.
func (c *conn) park() bool {
	if c.wc.Buffered() > 0 {
		return false
	}
	c.releaseBuffers()
	return c.srv.parker.park(c)
}

// releaseBuffers lets go of the connection's buffers, while it has
// nothing buffered; they are allocated again as needed.
func (c *conn) releaseBuffers() {
	c.wc.ReleaseBuffer()
	c.out, c.w.body, c.w.header = nil, nil, wire.Header{}
}

// takeTurn waits for one of the server's turns for bulk work: a client
// that pipelines many requests per read (or never reads its responses)
// then shares the CPU with a few others like it, instead of queueing
// ahead of every client that sends one request at a time. It reports
// false if the server closed meanwhile.
func (c *conn) takeTurn() bool {
	if c.bulk {
		return true
	}
	select {
	case c.srv.bulk <- struct{}{}:
		c.bulk = true
		return true
	case <-c.ctx.Done():
		return false
	}
}

// endTurn gives the turn back, before anything that may block.
func (c *conn) endTurn() {
	if c.bulk {
		<-c.srv.bulk
		c.bulk = false
	}
}

// nextRequest returns the request or error the event loop left for this
// goroutine, if any, else the codec's next.
func (c *conn) nextRequest() (*wire.Request, error) {
	if c.held {
		r, err := c.next, c.nextErr
		c.next, c.nextErr, c.held = nil, nil, false
		return r, err
	}
	return c.wc.NextRequest()
}

// handle answers one request into c.out, or reports true if the handler
// deferred the response (ResponseWriter.Later): the connection then
// belongs to the handler until it calls Done.
func (c *conn) handle(r *wire.Request) (deferred bool) {
	c.begin(r)
	switch {
	case r.Expect == wire.ExpectUnknown:
		c.w.writeProblem(417, "the only expectation supported is 100-continue")
	case !c.declined && c.offerable(r) && c.run(true):
	default:
		c.run(false)
	}
	c.declined = false
	if c.w.later {
		// Before the hand-over: Done may bring the connection back to the
		// loop at once, and it is not this goroutine's then.
		c.endTurn()
		c.unread.Store(true) // read before parking: no event says what came meanwhile
		if c.w.deferred() {
			return true
		}
	}
	c.finish()
	return false
}

// begin makes r the request being handled, with an empty response.
func (c *conn) begin(r *wire.Request) {
	c.requests++
	c.req.Request = r
	c.body.err = nil
	c.w.reset()
}

// finish completes the response once the handler has returned: it reads
// out the rest of the body, lets a refused body's answer win, and encodes
// the response unless it was aborted.
func (c *conn) finish() {
	c.discardBody()
	if pe, ok := errors.AsType[*wire.ProtocolError](c.body.err); ok && c.w.status != pe.Status {
		// The body was refused: that answer wins over the handler's, or
		// ends a streamed one, unless the handler gave it in its own
		// words.
		c.w.replace(pe.Status, pe.Err.Error())
	}
	if !c.w.aborted {
		c.respond()
	}
}

// run calls the handler (its TryServeHTTP if try), turning a panic into
// a 500 that closes the connection. It reports whether the request was
// served: false only when TryServeHTTP declined it.
func (c *conn) run(try bool) (served bool) {
	defer func() {
		if v := recover(); v != nil {
			c.srv.logger().Error("handler panic", "remote", c.nc.RemoteAddr(), "panic", v)
			c.w.later = false // a Done still to come finds nothing to do
			c.later.Store(laterNone)
			if c.w.replace(500, "internal error") {
				c.w.header.Add("Connection", "close")
			}
			served = true
		}
	}()
	if try {
		return c.srv.nonBlocking.TryServeHTTP(&c.w, &c.req)
	}
	c.srv.Handler.ServeHTTP(&c.w, &c.req)
	return true
}

// discardBody reads out a body the handler left unread before the answer
// goes, so that a malformed body still gets its 400 and the next request
// starts at the right byte. A client waiting for 100-continue is not asked
// for its body, and a response that closes the connection does not wait
// for it: either answer goes at once, and the connection closes.
func (c *conn) discardBody() {
	if c.wc.State() != wire.StateBody || c.wc.NeedsContinue() || c.body.err != nil ||
		c.w.header.HasToken("Connection", "close") {
		return
	}
	var buf [4096]byte
	for {
		if _, err := c.body.Read(buf[:]); err != nil {
			return
		}
	}
}

// finishHeader adds the fields the server owns to the response's header:
// Date, and Connection: close while shutting down.
func (c *conn) finishHeader() {
	if !c.w.header.Has("Date") {
		c.dated = time.Now()
		c.w.header.AddBytes("Date", c.srv.clock.date(c.dated))
	}
	if c.srv.shutdown.Load() {
		c.w.header.Set("Connection", "close")
	}
}

// respond encodes the collected response, or the end of a streamed one.
func (c *conn) respond() {
	var out []byte
	var err error
	if c.w.streaming {
		out = c.wc.AppendStreamData(c.out, c.w.body)
		out, err = c.wc.AppendStreamEnd(out)
	} else {
		c.finishHeader()
		out, err = c.wc.AppendResponse(c.out, c.w.statusOr200(), &c.w.header, c.w.body)
	}
	if err != nil {
		// A bug in this package: the codec said no response was due.
		c.srv.logger().Error("response out of sequence", "err", err)
	}
	c.out = out
}

// refuse answers a request the codec refused.
func (c *conn) refuse(err error) {
	var pe *wire.ProtocolError
	if !errors.As(err, &pe) {
		return
	}
	c.w.writeProblem(pe.Status, pe.Err.Error())
	c.respond()
}

// fill reads more bytes from the client, with the deadline of the phase
// the connection is in, after writing the responses ready so far: this is
// where pipelined responses are batched. Waiting for a new request marks
// the connection idle, so that Shutdown may close it.
func (c *conn) fill() error {
	if err := c.flush(); err != nil {
		return err
	}
	phase := c.wc.State()
	if phase == wire.StateIdle && c.srv.shutdown.Load() {
		return ErrServerClosed
	}
	if phase != c.phase || c.phaseReq != c.requests {
		c.phase, c.phaseReq = phase, c.requests
		now := time.Now()
		c.phaseEnd = now.Add(c.timeout(phase))
		deadline := c.phaseEnd
		if phase == wire.StateIdle && c.srv.parker != nil && c.srv.parkAfter() < c.timeout(phase) {
			deadline = now.Add(c.srv.parkAfter()) // then errPark
		}
		if phase != wire.StateIdle {
			// A request's head and body get their timeouts exactly,
			// from their first byte.
			if err := c.setReadDeadline(deadline, false); err != nil {
				return err
			}
		} else if !c.readByIdle || c.readBy.Before(deadline) {
			// Idle: a deadline up to slack later than due is kept. A
			// timeout before phaseEnd parks (see below), so the idle
			// timeout itself is never cut short.
			if err := c.setReadDeadline(deadline.Add(slack(deadline.Sub(now))), true); err != nil {
				return err
			}
		}
	}
	if phase == wire.StateIdle {
		c.idle.Store(true)
		defer c.idle.Store(false)
	}
	n, err := c.sock.Read(c.wc.Space(readChunk))
	c.wc.Received(n)
	c.sinceRead = 0
	switch {
	case errors.Is(err, io.EOF):
		c.eof = true
		c.wc.FeedEOF()
		return nil
	case err != nil && n == 0:
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			if phase == wire.StateIdle && time.Now().Before(c.phaseEnd) {
				return errPark
			}
			if perr := c.wc.TimedOut(); perr != nil {
				return perr
			}
		}
		return fmt.Errorf("server: read: %w", err)
	}
	return nil
}

// setReadDeadline sets nc's read deadline to t; idle says it was set for
// the idle phase, with slack.
func (c *conn) setReadDeadline(t time.Time, idle bool) error {
	c.readBy, c.readByIdle = t, idle
	return c.nc.SetReadDeadline(t)
}

// slack is how much later than due a renewed deadline may pass: 1/8 of
// its timeout. So a timeout of d passes between d and 9/8 d after the
// last request, and a busy connection sets its deadline about 8 times per
// timeout instead of once per request.
func slack(d time.Duration) time.Duration { return d / 8 }

func (c *conn) timeout(phase wire.ConnState) time.Duration {
	s := c.srv
	switch phase {
	case wire.StateIdle:
		return durationOr(s.IdleTimeout, DefaultIdleTimeout)
	case wire.StateHead:
		return durationOr(s.ReadHeaderTimeout, DefaultReadHeaderTimeout)
	}
	return durationOr(s.ReadTimeout, DefaultReadTimeout)
}

// flush writes every pending response in one write.
func (c *conn) flush() error {
	c.endTurn()
	if len(c.out) == 0 {
		return nil
	}
	timeout := durationOr(c.srv.WriteTimeout, DefaultWriteTimeout)
	now := c.dated
	c.dated = time.Time{}
	if now.IsZero() {
		now = time.Now()
	}
	if due := now.Add(timeout); c.writeBy.Before(due) {
		c.writeBy = due.Add(slack(timeout))
		c.nc.SetWriteDeadline(c.writeBy)
	}
	_, err := c.sock.Write(c.out)
	if cap(c.out) > maxKeptBuffer {
		c.out = nil
	}
	c.out = c.out[:0]
	if err != nil {
		return fmt.Errorf("server: write: %w", err)
	}
	return nil
}

// abort ends a connection whose response was aborted part way: it writes
// what is pending (earlier responses, if any) and closes. A body delimited
// by the close (untilClose: to an HTTP/1.0 client) would look complete after
// an orderly close, so the connection is reset instead.
func (c *conn) abort(untilClose bool) {
	c.flush()
	if l, ok := c.nc.(interface{ SetLinger(sec int) error }); ok && untilClose && c.w.streaming {
		l.SetLinger(0) // Close then sends a reset
	}
	c.nc.Close()
}

// close writes what is pending and closes the connection. Unless the
// client has closed its side, it half-closes first and reads a little for
// a while: closing with unread input would reset the connection and could
// destroy the response before the client reads it.
func (c *conn) close() {
	if c.flush() == nil && !c.eof {
		if cw, ok := c.nc.(interface{ CloseWrite() error }); ok && cw.CloseWrite() == nil {
			c.nc.SetReadDeadline(time.Now().Add(lingerTimeout))
			var buf [4096]byte
			for n := 0; n < lingerBytes; {
				k, err := c.nc.Read(buf[:])
				if n += k; err != nil {
					break
				}
			}
		}
	}
	c.nc.Close()
}
