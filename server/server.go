package server

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"kvhttp/wire"
)

// ErrServerClosed is returned by Serve after Shutdown or Close.
var ErrServerClosed = errors.New("server: closed")

// Defaults for a zero Server.
const (
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultReadTimeout       = 30 * time.Second
	DefaultWriteTimeout      = 30 * time.Second
	DefaultIdleTimeout       = 120 * time.Second
	DefaultMaxConns          = 10000
)

// Server serves HTTP/1.1 over TCP. The zero value, given a Handler, serves
// with the defaults above and wire's default limits. Its fields must not
// change once Serve has been called.
type Server struct {
	Handler Handler
	Limits  wire.Limits // what a client may send

	// ReadHeaderTimeout bounds the time from the first byte of a request
	// to the end of its head: slow headers are cut off (408).
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds the time to receive a request body.
	ReadTimeout time.Duration
	// WriteTimeout bounds each write of responses to a client that does
	// not read them. It may pass up to 1/8 late: the deadline is renewed
	// only once it is that old, not before every write.
	WriteTimeout time.Duration
	// IdleTimeout bounds the wait for the next request on a persistent
	// connection. Like WriteTimeout, it may pass up to 1/8 late.
	IdleTimeout time.Duration
	// MaxConns caps concurrent connections; a connection past the cap gets
	// a 503 and is closed at once.
	MaxConns int
	// Logger receives accept errors and handler panics; nil means
	// slog.Default().
	Logger *slog.Logger

	// parkAfterIdle is how long a connection waits for a request on its
	// goroutine before it is parked; zero means DefaultParkAfter. Tests
	// shorten it.
	parkAfterIdle time.Duration

	clock  clock
	parker *parker // nil where parking is not supported
	// nonBlocking is Handler if it is a NonBlockingHandler and the event
	// loop is supported (loop.go), else nil.
	nonBlocking NonBlockingHandler
	// bulk holds the turns for bulk work: connections past bulkAfter
	// requests from one read hold one while they answer (see takeTurn).
	bulk      chan struct{}
	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	conns     map[*conn]struct{}
	wg        sync.WaitGroup // connection goroutines
	shutdown  atomic.Bool
	ctx       context.Context    // parent of every connection's context
	cancel    context.CancelFunc // cancels ctx on Close
	once      sync.Once
}

func (s *Server) init() {
	s.once.Do(func() {
		s.listeners = map[net.Listener]struct{}{}
		s.conns = map[*conn]struct{}{}
		s.ctx, s.cancel = context.WithCancel(context.Background())
		s.parker = newParker(s)
		if h, ok := s.Handler.(NonBlockingHandler); ok && s.parker != nil {
			s.nonBlocking = h
		}
		s.bulk = make(chan struct{}, max(2, runtime.GOMAXPROCS(0)))
	})
}

// defaultParkAfter is how long an idle connection keeps its goroutine: long
// enough that a client between requests does not pay for parking, short
// enough that thousands of idle connections cost little.
const defaultParkAfter = time.Second

func (s *Server) parkAfter() time.Duration { return durationOr(s.parkAfterIdle, defaultParkAfter) }

func durationOr(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

func (s *Server) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

// ListenAndServe listens on the TCP address addr and serves.
func (s *Server) ListenAndServe(addr string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return s.Serve(l)
}

// Serve accepts connections on l and serves each on its own goroutine,
// until Shutdown or Close (then it returns ErrServerClosed) or until l
// fails for good. It closes l when it returns.
func (s *Server) Serve(l net.Listener) error {
	s.init()
	if !s.track(l) {
		l.Close()
		return ErrServerClosed
	}
	defer s.untrack(l)
	maxConns := s.MaxConns
	if maxConns <= 0 {
		maxConns = DefaultMaxConns
	}
	var backoff time.Duration
	for {
		nc, err := l.Accept()
		if err != nil {
			if s.shutdown.Load() {
				return ErrServerClosed
			}
			if temporary(err) {
				// Out of file descriptors or similar: wait, then go on.
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.logger().Warn("accept", "err", err, "retry_in", backoff)
				time.Sleep(backoff)
				continue
			}
			return err
		}
		backoff = 0
		c, ok := s.newConn(nc, maxConns)
		if !ok {
			s.refuse(nc)
			continue
		}
		go c.serve()
	}
}

// refuse answers a connection past the cap with 503 and closes it, without
// reading: the response is small enough for the socket buffer.
func (s *Server) refuse(nc net.Conn) {
	const body = `{"type":"about:blank","title":"Service Unavailable","status":503,"detail":"too many connections"}` + "\n"
	b := make([]byte, 0, 256)
	b = append(b, "HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nRetry-After: 1\r\nDate: "...)
	b = append(b, s.clock.date(time.Now())...)
	b = append(b, "\r\nContent-Type: application/problem+json\r\nContent-Length: "...)
	b = strconv.AppendInt(b, int64(len(body)), 10)
	b = append(b, "\r\n\r\n"+body...)
	nc.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
	nc.Write(b)
	nc.Close()
}

// temporary reports whether an accept error will likely pass: a timeout,
// or running out of file descriptors.
func temporary(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout() ||
		errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) ||
		errors.Is(err, syscall.ECONNABORTED)
}

func (s *Server) track(l net.Listener) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shutdown.Load() {
		return false
	}
	s.listeners[l] = struct{}{}
	return true
}

func (s *Server) untrack(l net.Listener) {
	s.mu.Lock()
	delete(s.listeners, l)
	s.mu.Unlock()
	l.Close()
}

// newConn registers a connection unless the server is at its cap or
// shutting down.
func (s *Server) newConn(nc net.Conn, maxConns int) (*conn, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.conns) >= maxConns || s.shutdown.Load() {
		return nil, false
	}
	c := newConn(s, nc)
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	return c, true
}

func (s *Server) forget(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	s.wg.Done()
}

// Shutdown stops the server gracefully: it closes the listeners, closes
// idle connections, lets requests in progress finish (their responses say
// "Connection: close"), and returns once every connection is gone, or with
// ctx's error if ctx ends first. Serve returns ErrServerClosed.
func (s *Server) Shutdown(ctx context.Context) error {
	s.init()
	s.shutdown.Store(true)
	s.closeListeners()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		if s.closeIdle() == 0 {
			s.parker.stop()
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// Close stops the server at once: it closes the listeners and every
// connection, cancels the requests' contexts, and waits for the connection
// goroutines to end. Calling it again does nothing more.
func (s *Server) Close() error {
	s.init()
	s.shutdown.Store(true)
	s.closeListeners()
	s.cancel()
	s.parker.stop()
	s.mu.Lock()
	for c := range s.conns {
		c.nc.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}

func (s *Server) closeListeners() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for l := range s.listeners {
		l.Close()
	}
}

// closeIdle closes the connections waiting for a request and returns how
// many connections remain.
func (s *Server) closeIdle() int {
	s.parker.closeAll()
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		if c.idle.Load() {
			c.nc.Close()
		}
	}
	return len(s.conns)
}
