package server

import (
	"errors"
	"time"

	"kvhttp/internal/sockio"
	"kvhttp/wire"
)

// The event loop.
//
// A request that a NonBlockingHandler answers without blocking, and whose
// answer it defers (a durable write waiting for the sync it shares with
// other writes), is served without a goroutine of its own: the
// connection's goroutine, if it has one, ends when the handler defers;
// the handler's Done hands the connection to the parker's goroutine (the
// loop, park_linux.go), which writes the answer without waiting, and then
// serves what the client sent next the same way, parsing and offering
// each request to TryServeHTTP, until nothing is left to read. Then the
// connection waits in the parker's epoll set, not in a goroutine, and
// the loop drives it again when it becomes readable. Meanwhile its socket
// is out of Go's poller, read and written by descriptor (parker.detach);
// a goroutine that takes it over gets it back as a new net.Conn. The loop never
// waits on one connection: whenever it would (a request that has not
// fully arrived, a handler that declines, a socket buffer full, a
// response that closes the connection), it hands the connection to a
// goroutine, which goes on from where the loop stopped, as the connection
// loop in conn.go.
//
// So a client sending one durable write at a time costs one read and one
// write a request, and no goroutine wake-up of its own; the writes of all
// clients are answered by one goroutine once their sync is done, as an
// event-loop server (Redis, say) answers them. That is the design
// docs/PERFORMANCE.md measured: a goroutine per connection, woken by the
// poller for each request and by the store for each answer, cost durable
// PUTs a tenth of their throughput.
//
// Ownership: a connection belongs to exactly one of its goroutine, the
// handler (from Later to Done), the loop, or the parker's epoll set
// (parked). Every hand-over goes through a channel, a mutex or a new
// goroutine, so each owner sees what the previous one left.

// offerable reports whether r may be offered to TryServeHTTP: the handler
// is a NonBlockingHandler, the loop is available and can read and write
// the connection's socket, and reading r's body cannot block.
func (c *conn) offerable(r *wire.Request) bool {
	if c.srv.nonBlocking == nil || !c.sock.Raw() || r.Expect != wire.ExpectNone {
		return false
	}
	switch r.Framing.Kind {
	case wire.BodyNone:
		return true
	case wire.BodyLength:
		return r.Framing.Length <= int64(c.wc.Buffered())
	}
	return false
}

// completed takes a deferred response back from the handler: the loop
// sends it, or a goroutine if the loop has stopped.
func (c *conn) completed() {
	if !c.srv.parker.complete(c) {
		go c.resumeAnswer()
	}
}

// resumeAnswer sends a deferred response from a goroutine, which then
// goes on serving the connection.
func (c *conn) resumeAnswer() {
	c.respond() // Later read the body out: the response is all there is
	c.handOver()
}

// handOver serves the connection from a new goroutine, from where the
// loop left it.
func (c *conn) handOver() {
	c.idle.Store(false)
	if c.raw >= 0 && !c.srv.parker.reattach(c) {
		c.end() // closed: the server is closing, or the socket failed
		return
	}
	// The loop sets no deadlines: the goroutine starts with the idle
	// phase's, then each phase's own (fill).
	if c.setReadDeadline(c.phaseEnd, false) != nil {
		c.nc.Close()
		c.end()
		return
	}
	c.serve()
}

// drive serves the connection on the loop's goroutine as far as it can
// without waiting: write what is pending, then parse, offer and answer
// the requests that have arrived, reading more when none is buffered,
// until it must wait. Then it parks the connection in the loop's epoll
// set, or hands it to a goroutine (see handOver), or leaves it to the
// handler that deferred a response.
func (c *conn) drive() {
	c.idle.Store(false)
	for {
		if len(c.out) > 0 && !c.writeNow() {
			go c.handOver() // its flush waits for room, with the write deadline
			return
		}
		r, err := c.wc.NextRequest()
		switch {
		case err == nil:
			if c.sinceRead >= bulkAfter || !c.offerable(r) {
				c.hold(r, nil)
				return
			}
			c.sinceRead++
			c.begin(r)
			if !c.run(true) {
				// Declined: its goroutine serves it, handling it anew.
				c.requests--
				c.declined = true
				c.hold(r, nil)
				return
			}
			if c.w.deferred() {
				return // Done brings the connection back
			}
			if !c.finishHandled() {
				go c.handOver() // it ends the connection
				return
			}
		case errors.Is(err, wire.ErrNeedMore):
			if c.wc.Buffered() > 0 || c.wc.State() != wire.StateIdle || !c.wc.KeepAlive() {
				go c.handOver() // a request on its way: its goroutine times it
				return
			}
			if !c.unread.Load() {
				c.parkLooped() // nothing came since the last read came back short
				return
			}
			space := c.wc.Space(readChunk)
			n, err := c.readNow(space)
			switch {
			case err == nil:
				c.wc.Received(n)
				c.sinceRead = 0
				if n < len(space) {
					c.unread.Store(false) // drained; what comes next is an event
				}
			case errors.Is(err, sockio.ErrWouldBlock):
				c.unread.Store(false)
				c.parkLooped()
				return
			default: // EOF, or the socket failed: the goroutine finds out
				go c.handOver()
				return
			}
		default:
			c.hold(nil, err) // io.EOF or a refusal: the goroutine ends it
			return
		}
	}
}

// hold leaves a parsed request (or the codec's error) for a goroutine,
// and starts it.
func (c *conn) hold(r *wire.Request, err error) {
	c.next, c.nextErr, c.held = r, err, true
	go c.handOver()
}

// finishHandled does for a request answered on the loop what handle does
// after its handler returns, and reports false if the connection must
// close instead of going on (its answer closes it, or a body was
// malformed).
func (c *conn) finishHandled() bool {
	c.finish()
	return c.wc.KeepAlive() && !c.w.aborted
}

// writeNow writes what is pending without waiting, and reports whether
// all of it went; what did not stays in c.out.
func (c *conn) writeNow() bool {
	var n int
	var err error
	if c.raw >= 0 {
		n, err = sockio.WriteFD(c.raw, c.out)
	} else {
		n, err = c.sock.WriteNow(c.out)
	}
	if err != nil {
		c.out = c.out[:copy(c.out, c.out[n:])]
		return false
	}
	if cap(c.out) > maxKeptBuffer {
		c.out = nil
	}
	c.out = c.out[:0]
	return true
}

// readNow reads what has arrived, without waiting.
func (c *conn) readNow(p []byte) (int, error) {
	if c.raw >= 0 {
		return sockio.ReadFD(c.raw, p)
	}
	return c.sock.ReadNow(p)
}

// parkLooped parks the connection, idle with nothing buffered, in the
// loop's epoll set, keeping its buffers: its client is likely to send
// again soon. If the parker is closed, a goroutine takes it.
func (c *conn) parkLooped() {
	now := c.dated
	if now.IsZero() {
		now = time.Now()
	}
	c.dated = time.Time{}
	c.phase, c.phaseReq = wire.StateIdle, c.requests
	c.phaseEnd = now.Add(c.timeout(wire.StateIdle))
	if c.srv.shutdown.Load() || !c.srv.parker.parkLooped(c) {
		go c.handOver()
	}
}
