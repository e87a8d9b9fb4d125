// Package loopback runs throwaway TCP servers on 127.0.0.1 for tests: a
// hand-written peer, or one that takes requests and never answers.
package loopback

import (
	"io"
	"net"
	"sync"
	"testing"
)

// Serve listens on a free loopback port and runs serve on each connection
// it accepts, closing the connection when serve returns. When t ends it
// stops accepting, closes the connections still open and waits for every
// serve to return. It returns the address.
func Serve(t testing.TB, serve func(c net.Conn)) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu     sync.Mutex
		conns  = map[net.Conn]bool{}
		closed bool // t has ended: a connection accepted now is closed at once
		wg     sync.WaitGroup
	)
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			if closed {
				c.Close() // its serve then returns at once
			}
			conns[c] = true
			mu.Unlock()
			wg.Go(func() {
				defer func() {
					mu.Lock()
					delete(conns, c)
					mu.Unlock()
					c.Close()
				}()
				serve(c)
			})
		}
	})
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		closed = true
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return l.Addr().String()
}

// Silent serves connections that read everything and answer nothing: a
// server that has stalled.
func Silent(t testing.TB) string {
	t.Helper()
	return Serve(t, func(c net.Conn) { io.Copy(io.Discard, c) })
}
