//go:build linux

package server

import (
	"errors"
	"os"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The loop's goroutine: how it waits, and its rounds.
//
// The loop waits for its epoll instance in Go's poller, as a goroutine
// waits for a socket, rather than in a blocking epoll_wait: the epoll
// descriptor is readable when any of its events is ready, so the loop
// asks for events without waiting (epoll_pwait with a zero timeout) and,
// when there are none, parks until Go's poller sees the descriptor
// readable, or the next sweep is due (a read deadline). A goroutine in a
// blocking system call keeps its thread and, when it blocks for long,
// makes the runtime hand its processor to another thread; one parked in
// the poller gives its processor to whatever is runnable (the store's
// committer, say) and is woken by the thread that polls. Measured
// together with the loop's own commits (RoundHandler): about a tenth more
// durable writes a second and a microsecond less server CPU each; either
// alone made no difference (docs/PERFORMANCE.md).
//
// Each turn of the loop is a round (RoundHandler): the handler's event,
// then BeginRound, the deferred responses that are done, the connections
// that became readable, EndRound.

// roundData marks the events of the RoundHandler's descriptor.
const roundData = -2

// epollWait waits for an epoll instance's events in Go's poller.
type epollWait struct {
	f      *os.File        // the epoll descriptor, non-blocking, in Go's poller
	rc     syscall.RawConn // f's
	events []unix.EpollEvent
	// ready is rc.Read's callback and n, err its outcome, made once so
	// that a wait allocates nothing.
	ready  func(fd uintptr) bool
	n      int
	err    error
	readBy time.Time // the read deadline set on f
}

// open makes epfd non-blocking and registers it with Go's poller. The
// epollWait owns epfd from then on: close closes it.
func (w *epollWait) open(epfd int) error {
	if err := unix.SetNonblock(epfd, true); err != nil {
		return err
	}
	f := os.NewFile(uintptr(epfd), "loop epoll")
	rc, err := f.SyscallConn()
	if err != nil {
		return err // f is not closed: the caller closes epfd
	}
	w.f, w.rc, w.events = f, rc, make([]unix.EpollEvent, 256)
	w.ready = w.take
	return nil
}

// close closes the epoll descriptor.
func (w *epollWait) close() { w.f.Close() }

// wait returns the events that are ready, waiting for one until
// deadline; it returns none when deadline passes first.
func (w *epollWait) wait(deadline time.Time) ([]unix.EpollEvent, error) {
	if !deadline.Equal(w.readBy) {
		if err := w.f.SetReadDeadline(deadline); err != nil {
			return nil, err
		}
		w.readBy = deadline
	}
	w.n, w.err = 0, nil
	if err := w.rc.Read(w.ready); err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return nil, nil
		}
		return nil, err
	}
	return w.events[:w.n], w.err
}

// take is wait's callback: it takes the events that are ready without
// waiting, or returns false to wait in the poller while there are none.
func (w *epollWait) take(fd uintptr) bool {
	for {
		n, _, e := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, fd, uintptr(unsafe.Pointer(&w.events[0])), uintptr(len(w.events)), 0, 0, 0)
		switch e {
		case 0:
			w.n = int(n)
			return n > 0
		case unix.EINTR:
			continue
		}
		w.err = os.NewSyscallError("epoll_pwait", e)
		return true
	}
}

// openRounds adds the RoundHandler's descriptor, if any, to the epoll
// set; p.round is set only if it could. open calls it.
func (p *parker) openRounds() {
	rh, ok := p.srv.nonBlocking.(RoundHandler)
	if !ok {
		return
	}
	if fd := rh.RoundFD(); fd >= 0 {
		ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: roundData}
		if err := unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
			p.srv.logger().Warn("event loop: the handler's rounds are off", "err", err)
			return
		}
	}
	p.round = rh
}

// loop hands readable connections back to goroutines, or drives them
// itself (loop.go), sends deferred responses, and ends connections past
// their idle timeout, until stop.
func (p *parker) loop() {
	var ready []*conn
	defer func() {
		if p.round != nil {
			p.round.EndRounds()
		}
		// Responses completed meanwhile go out from goroutines.
		ready, _ = p.takeReady(ready)
		for _, c := range ready {
			go c.resumeAnswer()
		}
		close(p.done)
	}()
	next := time.Now().Add(sweepEvery)
	for {
		evs, err := p.waiting.wait(next)
		if err != nil {
			p.srv.logger().Error("idle connections: epoll", "err", err)
			return
		}
		answers := false
		for _, ev := range evs {
			switch ev.Fd {
			case wakeData:
				answers = true
			case roundData:
				p.roundEvent()
				answers = true
			}
		}
		if p.round != nil {
			p.round.BeginRound()
		}
		// Deferred responses first: their clients have waited for a sync
		// already, and the requests that arrived meanwhile join the next.
		if answers {
			var closed bool
			if ready, closed = p.takeReady(ready); closed {
				for _, c := range ready {
					go c.resumeAnswer()
				}
				p.endRound()
				return
			}
			for i, c := range ready {
				ready[i] = nil
				c.respond() // Later read the body out
				c.drive()
			}
		}
		for _, ev := range evs {
			if ev.Fd < 0 {
				continue
			}
			if c := p.take(int(ev.Fd)); c != nil {
				if c.looped {
					c.drive()
				} else {
					go c.resume()
				}
			}
		}
		p.endRound()
		if now := time.Now(); !now.Before(next) {
			p.collect()
			p.sweep(func(c *conn) bool { return !now.Before(c.phaseEnd) })
			p.trim(now)
			next = now.Add(sweepEvery)
		}
	}
}

// roundEvent calls the RoundHandler's RoundEvent. The responses it
// completes are sent in this round, so they need not wake the loop.
func (p *parker) roundEvent() {
	p.reaping.Store(true)
	p.round.RoundEvent()
	p.reaping.Store(false)
}

// endRound ends the round, if the handler takes part in rounds.
func (p *parker) endRound() {
	if p.round != nil {
		p.round.EndRound()
	}
}
