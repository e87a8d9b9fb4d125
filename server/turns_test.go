package server

import (
	"strings"
	"sync"
	"testing"
	"time"
)

// TestBulkTurns: clients pipelining more than bulkAfter requests per read
// take turns, one at a time here; each gets every answer, in order, and
// every turn is given back.
func TestBulkTurns(t *testing.T) {
	s, addr := start(t, echo, nil)
	s.init()
	s.bulk = make(chan struct{}, 1) // before any connection
	const n = 5 * bulkAfter
	var wg sync.WaitGroup
	for i := range 3 {
		wg.Go(func() {
			c := dial(t, addr)
			c.Write([]byte(strings.Repeat(getA, n-1) + "GET /last HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"))
			got, closed := readFor(c, 3*time.Second)
			if k := strings.Count(got, "HTTP/1.1 200 OK"); k != n || !closed || !strings.HasSuffix(got, "GET /last ") {
				t.Errorf("connection %d: got %d answers (closed %v, ends %q); want %d, the last one last, then close", i, k, closed, got[max(0, len(got)-20):], n)
			}
		})
	}
	wg.Wait()
	waitFor(t, "the connections to end", func() bool { return s.connCount() == 0 })
	if k := len(s.bulk); k != 0 {
		t.Errorf("turns held after the connections ended: got %d; want 0", k)
	}
}
