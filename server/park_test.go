package server

import (
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// parking starts a server whose idle connections park after 20 ms.
func parking(t *testing.T, idle time.Duration) (*Server, string) {
	t.Helper()
	s, addr := start(t, echo, func(s *Server) {
		s.parkAfterIdle = 20 * time.Millisecond
		s.IdleTimeout = idle
	})
	s.init() // Serve may not have yet
	if s.parker == nil {
		t.Skip("idle connections are parked only on Linux")
	}
	return s, addr
}

// waitFor polls cond for up to 3 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("waited 3 s for %s", what)
}

// connCount returns how many connections the server holds. It may run
// before Serve has set the server up: init (a sync.Once) orders the two.
func (s *Server) connCount() int {
	s.init()
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

const getA = "GET /a HTTP/1.1\r\nHost: x\r\n\r\n"

// TestParkAndResume: an idle connection is parked, then served again when
// its client sends, as many times as it goes idle; pipelined requests sent
// to a parked connection are all answered.
func TestParkAndResume(t *testing.T) {
	s, addr := parking(t, 10*time.Second)
	c := dial(t, addr)
	for round, raw := range []string{getA, getA, getA + getA + getA} {
		if _, err := c.Write([]byte(raw)); err != nil {
			t.Fatal(err)
		}
		got, closed := readFor(c, 200*time.Millisecond)
		if n := strings.Count(got, "HTTP/1.1 200 OK"); n != strings.Count(raw, "GET") || closed {
			t.Fatalf("round %d: got %d responses (closed %v); want %d, open", round, n, closed, strings.Count(raw, "GET"))
		}
		waitFor(t, "the connection to park", func() bool { return s.parker.count() == 1 })
	}
}

// TestParkedIdleTimeout: a parked connection still closes after its idle
// timeout.
func TestParkedIdleTimeout(t *testing.T) {
	s, addr := parking(t, 300*time.Millisecond)
	c := dial(t, addr)
	c.Write([]byte(getA))
	start := time.Now()
	got, closed := readFor(c, 5*time.Second)
	if !closed || !strings.HasPrefix(got, "HTTP/1.1 200 OK") {
		t.Fatalf("got %q (closed %v); want one response, then close", got, closed)
	}
	if waited := time.Since(start); waited < 300*time.Millisecond {
		t.Errorf("closed after %v; want at least the idle timeout", waited)
	}
	waitFor(t, "the connection to be forgotten", func() bool { return s.connCount() == 0 })
}

// TestParkedClientCloses: a parked connection whose client hangs up is let
// go at once, not at its idle timeout.
func TestParkedClientCloses(t *testing.T) {
	s, addr := parking(t, time.Minute)
	c := dial(t, addr)
	c.Write([]byte(getA))
	readFor(c, 100*time.Millisecond)
	waitFor(t, "the connection to park", func() bool { return s.parker.count() == 1 })
	c.Close()
	waitFor(t, "the connection to be forgotten", func() bool { return s.connCount() == 0 })
}

// TestShutdownClosesParked: Shutdown closes parked connections like other
// idle ones and returns.
func TestShutdownClosesParked(t *testing.T) {
	s, addr := parking(t, time.Minute)
	for range 20 {
		c := dial(t, addr)
		c.Write([]byte(getA))
		readFor(c, 100*time.Millisecond)
	}
	waitFor(t, "20 connections to park", func() bool { return s.parker.count() == 20 })
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: got %v; want nil", err)
	}
	if n := s.connCount(); n != 0 {
		t.Errorf("after Shutdown: got %d connections; want 0", n)
	}
}

// TestManyParked: many connections park and are all served again.
func TestManyParked(t *testing.T) {
	s, addr := parking(t, time.Minute)
	const n = 200
	conns := make([]net.Conn, 0, n)
	for range n {
		c := dial(t, addr)
		c.Write([]byte(getA))
		conns = append(conns, c)
	}
	for i, c := range conns {
		if got := readUntil(c, "GET /a "); !strings.HasPrefix(got, "HTTP/1.1 200 OK") {
			t.Fatalf("connection %d: got %q; want 200", i, got)
		}
	}
	waitFor(t, "all connections to park", func() bool { return s.parker.count() == n })
	for _, c := range conns {
		c.Write([]byte(getA))
	}
	for i, c := range conns {
		if got := readUntil(c, "GET /a "); !strings.HasPrefix(got, "HTTP/1.1 200 OK") {
			t.Fatalf("connection %d after parking: got %q; want 200", i, got)
		}
	}
	waitFor(t, "all connections to park again", func() bool { return s.parker.count() == n })
}

// readUntil reads until what was read ends with suffix, the peer closes,
// or 3 s pass.
func readUntil(c net.Conn, suffix string) string {
	c.SetReadDeadline(time.Now().Add(3 * time.Second))
	var got []byte
	buf := make([]byte, 4096)
	for !strings.HasSuffix(string(got), suffix) {
		n, err := c.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			break
		}
	}
	return string(got)
}

// TestParkRaces: requests sent around the moment connections park (some
// just before, some just after, some while the parker hands them back) are
// all answered promptly: no wake-up is lost between the read that times
// out and the epoll set that takes over.
func TestParkRaces(t *testing.T) {
	_, addr := parking(t, time.Minute)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			c := dial(t, addr)
			for j := range 60 {
				time.Sleep(time.Duration(10+(i*7+j*13)%21) * time.Millisecond) // 10 to 30 ms: around 20
				start := time.Now()
				if _, err := c.Write([]byte(getA)); err != nil {
					t.Errorf("connection %d, request %d: %v", i, j, err)
					return
				}
				if got := readUntil(c, "GET /a "); !strings.HasPrefix(got, "HTTP/1.1 200 OK") {
					t.Errorf("connection %d, request %d: got %q; want 200", i, j, got)
					return
				}
				if d := time.Since(start); d > time.Second {
					t.Errorf("connection %d, request %d: answered after %v; want well under a second", i, j, d)
				}
			}
		})
	}
	wg.Wait()
}
