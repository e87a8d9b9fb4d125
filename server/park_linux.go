//go:build linux

package server

import (
	"errors"
	"runtime/debug"
	"runtime/metrics"
	"sync"
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
// Ownership: a parked connection belongs to the parker, which either hands
// it to a goroutine (readable) or ends it (idle timeout, Shutdown, Close);
// p.mu makes those exclusive.
type parker struct {
	srv    *Server
	epfd   int
	wakefd int           // an eventfd: a write wakes loop to stop
	start  sync.Once     // makes epfd and wakefd, under mu
	done   chan struct{} // closed when loop returns

	mu     sync.Mutex
	parked map[int]*conn // by file descriptor
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
	return &parker{srv: s, epfd: -1, wakefd: -1, done: make(chan struct{}), parked: map[int]*conn{}}
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
	p.epfd, p.wakefd = epfd, wakefd
	go p.loop()
	return nil
}

// park takes c, idle with nothing buffered, until its client sends again
// or its idle timeout passes. It reports false if it could not, and c stays
// with its goroutine.
func (p *parker) park(c *conn) bool {
	if p == nil {
		return false
	}
	sc, ok := c.nc.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	fd := -1
	if rc.Control(func(f uintptr) { fd = int(f) }) != nil || fd < 0 {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || p.srv.shutdown.Load() {
		return false
	}
	p.start.Do(func() {
		if err := p.open(); err != nil {
			p.srv.logger().Warn("idle connections stay on their goroutines", "err", err)
		}
	})
	if p.epfd < 0 {
		return false
	}
	// Level-triggered, once: bytes that arrived before this call wake the
	// connection at once; the loop removes it before handing it back.
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLONESHOT, Fd: int32(fd)}
	if unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, fd, &ev) != nil {
		return false
	}
	c.fd = fd
	c.idle.Store(true)
	p.parked[fd] = c
	p.parks++
	return true
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

// take removes the connection parked on fd, if any, from the parker and
// from its epoll set; the caller owns it then.
func (p *parker) take(fd int) *conn {
	p.mu.Lock()
	defer p.mu.Unlock()
	c := p.parked[fd]
	if c != nil {
		delete(p.parked, fd)
		unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, fd, nil)
	}
	return c
}

// loop hands readable connections back to goroutines and ends those past
// their idle timeout, until stop.
func (p *parker) loop() {
	defer close(p.done)
	events := make([]unix.EpollEvent, 256)
	next := time.Now().Add(sweepEvery)
	for {
		n, err := unix.EpollWait(p.epfd, events, int(sweepEvery/time.Millisecond))
		if err != nil && !errors.Is(err, unix.EINTR) {
			p.srv.logger().Error("idle connections: epoll", "err", err)
			return
		}
		for _, ev := range events[:max(n, 0)] {
			if ev.Fd == wakeData {
				return
			}
			if c := p.take(int(ev.Fd)); c != nil {
				go c.resume()
			}
		}
		if now := time.Now(); !now.Before(next) {
			p.collect()
			p.sweep(func(c *conn) bool { return !now.Before(c.phaseEnd) })
			next = now.Add(sweepEvery)
		}
	}
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
			unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, fd, nil)
			ended = append(ended, c)
		}
	}
	p.mu.Unlock()
	for _, c := range ended {
		c.nc.Close()
		c.end()
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
	p.start.Do(func() {}) // no epoll instance from now on
	if p.epfd >= 0 {
		one := [8]byte{1}
		unix.Write(p.wakefd, one[:])
		<-p.done
		unix.Close(p.epfd)
		unix.Close(p.wakefd)
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
