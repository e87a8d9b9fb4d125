//go:build linux

package server

import (
	"net"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// parker watches parked connections for their next request with an epoll
// instance of its own, so that a connection idle for longer than parkAfter
// holds no goroutine and no buffers: a few hundred bytes instead of a
// goroutine's stack. One goroutine (loop) waits on the epoll instance; when
// a parked connection becomes readable, or its client hangs up, it hands
// the connection to a new goroutine, which serves it as before.
//
// Go's own poller keeps watching the socket too (a file may sit in several
// epoll sets); a connection handed back with nothing to read simply waits
// in Go's poller, so a spurious wake-up costs a goroutine, never a request.
//
// The same goroutine is the server's event loop (loop.go): it drives the
// connections parked by parkLooped itself, and sends the responses that
// handlers deferred (complete).
//
// Ownership: a parked connection belongs to the parker, which either hands
// it to a goroutine (readable), drives it (looped), or ends it (idle
// timeout, Shutdown, Close); p.mu makes those exclusive.
type parker struct {
	srv    *Server
	epfd   int
	wakefd int           // an eventfd: a write wakes loop (to stop, or to send)
	start  sync.Once     // makes epfd and wakefd, under mu
	done   chan struct{} // closed when loop returns
	// waiting is the loop's wait for epfd in Go's poller (loop_linux.go).
	waiting epollWait
	// round is the handler taking part in the loop's rounds, if any
	// (RoundHandler); reaping is set while its RoundEvent runs, when the
	// responses it completes need no wake-up: the loop sends them next.
	round   RoundHandler
	reaping atomic.Bool

	mu     sync.Mutex
	parked map[int]*conn // by file descriptor
	edged  map[int]*conn // registered edge-triggered (parkLooped), parked or not
	ready  []*conn       // deferred responses complete, for loop to send
	closed bool
	parks  int // connections parked since the last collection seen

	gcCycles []metrics.Sample // loop's only
	forced   time.Time        // loop's only: the last collection collect asked for
	seen     int              // loop's only: parks at the last sweep
}

// wakeData marks the eventfd's events; connections' descriptors are >= 0.
const wakeData = -1

// sweepEvery is how often parked connections are checked for their idle
// timeout: they close up to this long after it.
const sweepEvery = time.Second

// newParker returns the server's parker. Its epoll instance is made when
// the first connection parks.
func newParker(s *Server) *parker {
	return &parker{srv: s, epfd: -1, wakefd: -1, done: make(chan struct{}), parked: map[int]*conn{}, edged: map[int]*conn{}}
}

// open makes the epoll instance and starts loop.
func (p *parker) open() error {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return err
	}
	wakefd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(epfd)
		return err
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: wakeData}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wakefd, &ev); err != nil {
		unix.Close(epfd)
		unix.Close(wakefd)
		return err
	}
	if err := p.waiting.open(epfd); err != nil {
		unix.Close(epfd)
		unix.Close(wakefd)
		return err
	}
	p.epfd, p.wakefd = epfd, wakefd
	p.openRounds()
	go p.loop()
	return nil
}

// park takes c, idle with nothing buffered, until its client sends again
// or its idle timeout passes. It reports false if it could not, and c stays
// with its goroutine.
func (p *parker) park(c *conn) bool {
	if p == nil || c.raw >= 0 {
		return false
	}
	fd := c.fd
	if !c.inEpoll {
		if fd = descriptor(c); fd < 0 {
			return false
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.openLocked() || p.srv.shutdown.Load() {
		return false
	}
	// Level-triggered, once: bytes that arrived before this call wake the
	// connection at once. The event disarms it; it stays in the set, to
	// be armed again (MOD) the next time it parks, until it is closed.
	if !p.register(c, fd, unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLONESHOT) {
		return false
	}
	c.looped = false
	p.parkLocked(c)
	p.parks++ // its goroutine ends: see collect
	return true
}

// parkLooped parks c as park does, for the loop to drive when its client
// sends again (loop.go); it runs on the loop's goroutine. The socket is
// first detached from Go's poller (detach), and registered here
// edge-triggered, once for all: between requests it then costs the loop
// no system call, and no read that finds nothing. An edge is reported
// once per arrival, so the loop notes every event for the connection,
// parked or not (c.unread), and drive reads only after one, until a read
// comes back short.
func (p *parker) parkLooped(c *conn) bool {
	if p == nil {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.openLocked() || p.srv.shutdown.Load() {
		return false
	}
	if c.raw < 0 && !p.detach(c) {
		return false
	}
	if !c.edge {
		// Registering reports bytes already there: nothing is missed.
		if !p.register(c, c.raw, unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLET) {
			return false
		}
		c.edge = true
		p.edged[c.raw] = c
	}
	c.looped = true
	p.parkLocked(c)
	return true
}

// register adds c's descriptor to the epoll set, or changes its events.
// p.mu is held.
func (p *parker) register(c *conn, fd int, events uint32) bool {
	ev := unix.EpollEvent{Events: events, Fd: int32(fd)}
	op := unix.EPOLL_CTL_ADD
	if c.inEpoll {
		op = unix.EPOLL_CTL_MOD
	}
	if unix.EpollCtl(p.epfd, op, fd, &ev) != nil {
		return false
	}
	c.fd, c.inEpoll = fd, true
	return true
}

// unregister takes c's descriptor out of the epoll set. p.mu is held.
func (p *parker) unregister(c *conn) {
	if c.inEpoll {
		if p.epfd >= 0 {
			unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, c.fd, nil)
		}
		c.inEpoll = false
	}
	if c.edge {
		c.edge = false
		if p.edged[c.fd] == c {
			delete(p.edged, c.fd)
		}
	}
}

// parkLocked records c as parked. p.mu is held.
func (p *parker) parkLocked(c *conn) {
	c.idle.Store(true)
	p.parked[c.fd] = c
}

// detach takes c's socket out of Go's poller, for the loop alone to
// watch. Go's poller watches every socket it has, edge-triggered, for
// reads and writes; for a socket no goroutine waits on, each event only
// wakes the thread waiting in the poller, and for durable PUTs served by
// the loop that was two wake-ups a request and a fifth of the server's
// CPU (docs/PERFORMANCE.md). The socket is duplicated and nc closed,
// which takes it out of the poller; c.raw is the duplicate. reattach
// undoes it when a goroutine takes the connection over. p.mu is held; c
// belongs to the loop.
func (p *parker) detach(c *conn) bool {
	raw := -1
	var err error
	if !withFD(c, func(fd uintptr) { raw, err = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0) }) || err != nil {
		return false
	}
	// An entry for the old descriptor, from an earlier park, would
	// outlive its close: the duplicate keeps the socket open.
	p.unregister(c)
	c.nc.Close() // Go's poller lets go of it; the socket stays, as raw
	c.raw, c.fd = raw, raw
	return true
}

// reattach gives a detached connection back to Go's poller, as a new
// net.Conn, for a goroutine to serve. It reports false, having closed
// the socket, if the server has been closed or the socket failed. c
// belongs to the caller, not to the parker.
func (p *parker) reattach(c *conn) bool {
	raw := c.raw
	p.mu.Lock()
	p.unregister(c)
	p.mu.Unlock()
	c.raw = -1
	f := os.NewFile(uintptr(raw), "")
	nc, err := net.FileConn(f) // a duplicate, in Go's poller
	f.Close()
	if err != nil {
		p.srv.logger().Warn("connection lost handing it over", "remote", c.req.RemoteAddr, "err", err)
		return false
	}
	s := p.srv
	s.mu.Lock()
	c.nc = nc // Close reads it under s.mu
	s.mu.Unlock()
	c.sock.Init(nc)
	// The deadlines noted were the old socket's; the new one has none.
	c.readBy, c.readByIdle, c.writeBy = time.Time{}, false, time.Time{}
	if c.ctx.Err() != nil { // Close has been: it may not have seen nc
		nc.Close()
		return false
	}
	return true
}

// closeSocket closes c's socket, detached or not. c belongs to the
// caller, and is not parked.
func (p *parker) closeSocket(c *conn) {
	if c.raw < 0 {
		c.nc.Close()
		return
	}
	p.mu.Lock()
	p.unregister(c)
	p.mu.Unlock()
	unix.Close(c.raw)
	c.raw = -1
}

// forget drops c, which has ended, from the parker's records. Its socket
// is closed, which took it out of the epoll set, and its descriptor may
// already be another connection's: it must not be touched.
func (p *parker) forget(c *conn) {
	if p == nil || !c.inEpoll && !c.edge {
		return
	}
	p.mu.Lock()
	if p.edged[c.fd] == c {
		delete(p.edged, c.fd)
	}
	c.inEpoll, c.edge = false, false
	p.mu.Unlock()
}

// descriptor returns c's socket descriptor, or -1.
func descriptor(c *conn) int {
	fd := -1
	if !withFD(c, func(f uintptr) { fd = int(f) }) {
		return -1
	}
	return fd
}

// withFD calls fn with c's socket descriptor, which stays open during
// the call, and reports false if it could not.
func withFD(c *conn, fn func(fd uintptr)) bool {
	sc, ok := c.nc.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	return err == nil && rc.Control(fn) == nil
}

// openLocked makes the epoll instance if it is not made yet, and reports
// whether the parker is open. p.mu is held.
func (p *parker) openLocked() bool {
	if p.closed {
		return false
	}
	p.start.Do(func() {
		if err := p.open(); err != nil {
			p.srv.logger().Warn("idle connections stay on their goroutines", "err", err)
		}
	})
	return p.epfd >= 0
}

// complete queues c, whose deferred response is complete, for the loop to
// send, and reports false if the parker is closed: the caller sends it.
func (p *parker) complete(c *conn) bool {
	if p == nil {
		return false
	}
	p.mu.Lock()
	if !p.openLocked() {
		p.mu.Unlock()
		return false
	}
	if len(p.ready) == 0 && !p.reaping.Load() {
		// Under p.mu, which stop holds to close wakefd.
		one := [8]byte{1}
		unix.Write(p.wakefd, one[:])
	}
	p.ready = append(p.ready, c)
	p.mu.Unlock()
	return true
}

// takeReady returns the completed connections queued for the loop, and
// whether the parker is closed: the loop then hands them to goroutines.
func (p *parker) takeReady(into []*conn) ([]*conn, bool) {
	var buf [8]byte
	unix.Read(p.wakefd, buf[:]) // reset the eventfd before looking
	p.mu.Lock()
	defer p.mu.Unlock()
	into = append(into[:0], p.ready...)
	clear(p.ready)
	p.ready = p.ready[:0]
	return into, p.closed
}

// collectAfter is how many parked goroutines' stacks make it worth a
// collection.
const collectAfter = 1024

// forceEvery spaces the collections collect asks for while connections
// keep parking: a server whose clients come and go every few seconds,
// allocating nothing, would otherwise pay for one every sweep. Once a
// burst of parking ends (no park in a whole sweep), collect does not wait
// for forceEvery: the burst's stacks go back at once, not up to 10 s
// later.
const forceEvery = 10 * time.Second

// collect asks for a garbage collection, and for the freed memory to go
// back to the system, when many connections have parked since the last
// collection: the stacks of their ended goroutines go back to the heap
// only at a collection (and to the system only gradually after it), and a
// server that has just parked thousands of connections allocates too
// little to start one soon.
func (p *parker) collect() {
	if p.gcCycles == nil {
		p.gcCycles = []metrics.Sample{{Name: "/gc/cycles/total:gc-cycles"}}
	}
	before := p.gcCycles[0].Value
	metrics.Read(p.gcCycles)
	p.mu.Lock()
	parks := p.parks
	p.mu.Unlock()
	collected := before.Kind() == metrics.KindUint64 && p.gcCycles[0].Value.Uint64() != before.Uint64()
	quiet := parks == p.seen // no park since the last sweep
	p.seen = parks
	if !collected && parks >= collectAfter && (quiet || time.Since(p.forced) >= forceEvery) {
		debug.FreeOSMemory() // a collection, and the freed memory back to the system
		metrics.Read(p.gcCycles)
		p.forced = time.Now()
		collected = true
	}
	if collected {
		p.mu.Lock()
		p.parks -= parks
		p.mu.Unlock()
		p.seen = 0
	}
}

// take removes the connection parked on fd, if any, from the parker; the
// caller owns it then. An event for a connection registered
// edge-triggered is noted (c.unread), whoever owns it.
func (p *parker) take(fd int) *conn {
	p.mu.Lock()
	defer p.mu.Unlock()
	if c := p.edged[fd]; c != nil {
		c.unread.Store(true)
	}
	c := p.parked[fd]
	if c != nil {
		delete(p.parked, fd)
	}
	return c
}

// sweep ends the parked connections that match.
func (p *parker) sweep(match func(*conn) bool) {
	if p == nil {
		return
	}
	var ended []*conn
	p.mu.Lock()
	for fd, c := range p.parked {
		if match(c) {
			delete(p.parked, fd)
			p.unregister(c)
			ended = append(ended, c)
		}
	}
	p.mu.Unlock()
	for _, c := range ended {
		p.closeSocket(c)
		c.end()
	}
}

// trim lets go of the buffers of the connections parked by the loop that
// have been idle for parkAfter: parkLooped keeps them, for a client that
// sends again soon, and an idle one should cost what one parked by park
// does. They are allocated again when it sends.
func (p *parker) trim(now time.Time) {
	idleFor := durationOr(p.srv.IdleTimeout, DefaultIdleTimeout) - p.srv.parkAfter()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.parked {
		if c.looped && c.out != nil && !now.Before(c.phaseEnd.Add(-idleFor)) {
			c.releaseBuffers()
		}
	}
}

// closeAll ends every parked connection: they are idle.
func (p *parker) closeAll() { p.sweep(func(*conn) bool { return true }) }

// stop ends the parked connections and the loop; the parker parks nothing
// more. Calling it again does nothing.
func (p *parker) stop() {
	if p == nil {
		return
	}
	p.mu.Lock()
	already := p.closed
	p.closed = true
	p.mu.Unlock()
	if already {
		return
	}
	p.closeAll()
	// The detached connections still open wait for a deferred response
	// (or are being driven): their clients see the close now. Shut down,
	// not closed: the descriptor stays theirs until their owner closes it,
	// so it cannot be reused meanwhile.
	p.mu.Lock()
	for fd := range p.edged {
		unix.Shutdown(fd, unix.SHUT_RDWR)
	}
	p.mu.Unlock()
	p.start.Do(func() {}) // no epoll instance from now on
	if p.epfd >= 0 {
		one := [8]byte{1}
		unix.Write(p.wakefd, one[:])
		<-p.done
		p.mu.Lock()
		p.waiting.close() // and epfd with it
		unix.Close(p.wakefd)
		p.epfd, p.wakefd = -1, -1 // unregister must not touch a reused number
		p.mu.Unlock()
	}
}

// count returns how many connections are parked.
func (p *parker) count() int {
	if p == nil {
		return 0
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.parked)
}
