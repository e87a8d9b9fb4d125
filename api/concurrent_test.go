package api_test

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"kvhttp/client"
)

const writers, rounds = 32, 20

// race sends one request per writer at once, each on its own connection,
// and returns the statuses.
func race(t *testing.T, srv *running, req func(w int) *client.Request) []int {
	t.Helper()
	statuses := make([]int, writers)
	var ready, done sync.WaitGroup
	start := make(chan struct{})
	for w := range writers {
		ready.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			c := &client.Client{Addr: srv.addr}
			defer c.Close()
			r := req(w)
			ready.Done()
			<-start
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			resp, err := c.Do(ctx, r)
			if err != nil {
				t.Error(err)
				return
			}
			statuses[w] = resp.Status
		}()
	}
	ready.Wait()
	close(start)
	done.Wait()
	return statuses
}

// count returns how many statuses equal each wanted status.
func count(statuses []int, want ...int) (n []int, other int) {
	n = make([]int, len(want))
	for _, s := range statuses {
		found := false
		for i, w := range want {
			if s == w {
				n[i]++
				found = true
			}
		}
		if !found {
			other++
		}
	}
	return n, other
}

// TestCreateOnlyRace: 32 writers create the same key with If-None-Match: *
// at once; exactly one gets 201 each round, the rest 412.
func TestCreateOnlyRace(t *testing.T) {
	srv := startServer(t, t.TempDir())
	for round := range rounds {
		key := fmt.Sprintf("/kv/race-%d", round)
		statuses := race(t, srv, func(w int) *client.Request {
			r := &client.Request{Method: "PUT", Target: key, Body: []byte(strconv.Itoa(w))}
			r.Header.Add("If-None-Match", "*")
			return r
		})
		n, other := count(statuses, 201, 412)
		if n[0] != 1 || n[1] != writers-1 || other != 0 {
			t.Fatalf("round %d: got %v; want one 201 and %d 412", round, statuses, writers-1)
		}
	}
}

// TestCompareAndSwapRace: 32 writers read the same ETag, then all try to
// replace the value with If-Match on it; exactly one wins each round, and
// the counter ends at the number of rounds.
func TestCompareAndSwapRace(t *testing.T) {
	srv := startServer(t, t.TempDir())
	srv.do(t, "PUT", "/kv/counter", "0").status(t, 201)
	for round := range rounds {
		cur := srv.do(t, "GET", "/kv/counter", "")
		n, _ := strconv.Atoi(string(cur.Body))
		tag := string(cur.Header.Get("ETag"))
		statuses := race(t, srv, func(int) *client.Request {
			r := &client.Request{Method: "PUT", Target: "/kv/counter", Body: []byte(strconv.Itoa(n + 1))}
			r.Header.Add("If-Match", tag)
			return r
		})
		counts, other := count(statuses, 204, 412)
		if counts[0] != 1 || counts[1] != writers-1 || other != 0 {
			t.Fatalf("round %d: got %v; want one 204 and %d 412", round, statuses, writers-1)
		}
	}
	if got := string(srv.do(t, "GET", "/kv/counter", "").Body); got != strconv.Itoa(rounds) {
		t.Errorf("counter: got %s; want %d", got, rounds)
	}
}

// TestPinnedRace: the same with a precondition the store cannot check in
// one condition (an If-Match list): it is evaluated and pinned to the
// version read, and still exactly one writer wins.
func TestPinnedRace(t *testing.T) {
	srv := startServer(t, t.TempDir())
	srv.do(t, "PUT", "/kv/k", "0").status(t, 201)
	for round := range 5 {
		tag := string(srv.do(t, "GET", "/kv/k", "").Header.Get("ETag"))
		statuses := race(t, srv, func(w int) *client.Request {
			r := &client.Request{Method: "PUT", Target: "/kv/k", Body: []byte(strconv.Itoa(w))}
			r.Header.Add("If-Match", `"999999", `+tag)
			return r
		})
		counts, other := count(statuses, 204, 412)
		if counts[0] != 1 || other != 0 {
			t.Fatalf("round %d: got %v; want one 204, the rest 412", round, statuses)
		}
	}
}
