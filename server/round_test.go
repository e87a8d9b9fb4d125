//go:build linux

package server

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// rounding is a RoundHandler that works as a store committing on the
// loop does. Its TryServeHTTP defers every answer. On the loop it keeps
// the answer for the round's end; EndRound starts the round's answers
// (it signals its eventfd, RoundFD); RoundEvent reads the eventfd and
// gives every started answer: 201 "round N", N the round that started
// it. On a connection's goroutine (the connection's first request) and
// when the loop does not take part in rounds (rounds off), the answer
// comes from another goroutine. It notes every call out of place in bad.
type rounding struct {
	fd int // RoundFD's answer

	mu      sync.Mutex
	efd     int
	inRound bool
	rounds  int // rounds begun
	ended   int // EndRounds calls
	events  int // RoundEvent calls that found answers to give
	kept    []*ResponseWriter
	started []*ResponseWriter
	round   []int // started's rounds
	bad     []string
}

var _ RoundHandler = (*rounding)(nil)

func newRounding(t *testing.T) *rounding {
	t.Helper()
	efd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(efd) })
	return &rounding{fd: efd, efd: efd}
}

func (h *rounding) ServeHTTP(w *ResponseWriter, r *Request) {
	io.Copy(io.Discard, r.Body)
	w.WriteString("served")
}

func (h *rounding) TryServeHTTP(w *ResponseWriter, r *Request) bool {
	io.Copy(io.Discard, r.Body)
	loop := inLoop()
	if !w.Later() {
		w.WriteHeader(500)
		return true
	}
	if !loop { // the connection goes to the loop with Done
		go func() {
			handedOver(w)
			w.Header().Add("X-Via", "try")
			w.WriteString("later")
			w.Done()
		}()
		return true
	}
	w.Header().Add("X-Via", "loop")
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.inRound {
		go func() { // rounds off
			handedOver(w)
			w.WriteString("no round")
			w.Done()
		}()
		return true
	}
	h.kept = append(h.kept, w)
	return true
}

func (h *rounding) RoundFD() int { return h.fd }

func (h *rounding) BeginRound() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.inRound {
		h.bad = append(h.bad, "BeginRound in a round")
	}
	h.inRound = true
	h.rounds++
}

func (h *rounding) EndRound() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.inRound {
		h.bad = append(h.bad, "EndRound out of a round")
	}
	h.inRound = false
	if len(h.kept) == 0 {
		return
	}
	for range h.kept {
		h.round = append(h.round, h.rounds)
	}
	h.started = append(h.started, h.kept...)
	clear(h.kept)
	h.kept = h.kept[:0]
	one := [8]byte{1}
	unix.Write(h.efd, one[:])
}

// EndRounds gives the answers started and not given yet, as RoundEvent.
func (h *rounding) EndRounds() {
	h.mu.Lock()
	h.ended++
	if h.inRound {
		h.bad = append(h.bad, "EndRounds in a round")
	}
	h.mu.Unlock()
	h.RoundEvent()
}

func (h *rounding) RoundEvent() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.inRound {
		h.bad = append(h.bad, "RoundEvent in a round")
	}
	var buf [8]byte
	unix.Read(h.efd, buf[:])
	if len(h.started) > 0 {
		h.events++
	}
	for i, w := range h.started {
		w.WriteHeader(201)
		fmt.Fprintf(w, "round %d", h.round[i])
		w.Done()
	}
	clear(h.started)
	h.started, h.round = h.started[:0], h.round[:0]
}

// postSeries sends n POSTs on one connection to addr, one at a time, and
// returns the answers' X-Via and bodies.
func postSeries(t *testing.T, addr string, n int) (vias, bodies []string) {
	t.Helper()
	c := dial(t, addr)
	defer c.Close()
	br := bufio.NewReader(c)
	for i := range n {
		if _, err := fmt.Fprintf(c, "POST /w%d HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nv", i); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("answer %d: %v", i, err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("answer %d: %v", i, err)
		}
		vias, bodies = append(vias, resp.Header.Get("X-Via")), append(bodies, string(b))
	}
	return vias, bodies
}

// TestRoundHandler: the loop brackets its rounds with BeginRound and
// EndRound, calls RoundEvent between rounds when RoundFD is readable,
// and sends the answers RoundEvent completes; every request is answered.
func TestRoundHandler(t *testing.T) {
	h := newRounding(t)
	_, addr := start(t, h, nil)
	const clients, each = 8, 30
	var wg sync.WaitGroup
	results := make([][]string, clients)
	for i := range clients {
		wg.Go(func() {
			vias, bodies := postSeries(t, addr, each)
			for j := range vias {
				results[i] = append(results[i], vias[j]+" "+bodies[j])
			}
		})
	}
	wg.Wait()
	loopAnswers := 0
	for i, rs := range results {
		for j, r := range rs {
			switch {
			case strings.HasPrefix(r, "loop round "):
				loopAnswers++
			case r == "try later":
			default:
				t.Errorf("client %d, answer %d: got %q; want %q or %q", i, j, r, "loop round N", "try later")
			}
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.bad) > 0 {
		t.Errorf("calls out of place: got %q; want none", h.bad)
	}
	if loopAnswers == 0 || h.events == 0 {
		t.Errorf("answers from rounds: got %d, in %d events; want the loop's", loopAnswers, h.events)
	}
}

// TestRoundHandlerStops: when the loop stops, it calls EndRounds once,
// and the answers that completes go out. The handler's eventfd is not
// watched here (RoundFD -1), so the answers started at the last rounds'
// end wait for EndRounds.
func TestRoundHandlerStops(t *testing.T) {
	h := newRounding(t)
	h.fd = -1
	s, addr := start(t, h, nil)
	c := dial(t, addr)
	defer c.Close()
	br := bufio.NewReader(c)
	if _, err := fmt.Fprint(c, "POST /first HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nv"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("first answer: %v", err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if via := resp.Header.Get("X-Via"); via != "try" {
		t.Fatalf("first answer: got X-Via %q; want %q, from the connection's goroutine", via, "try")
	}
	if _, err := fmt.Fprint(c, "POST /second HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nv"); err != nil {
		t.Fatal(err)
	}
	for end := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		h.mu.Lock()
		n := len(h.started)
		h.mu.Unlock()
		if n == 1 {
			break
		}
		if time.Now().After(end) {
			t.Fatal("second request: not started by a round within 5 s")
		}
	}
	s.parker.stop()
	h.mu.Lock()
	ended := h.ended
	h.mu.Unlock()
	if ended != 1 {
		t.Errorf("EndRounds calls after the loop stopped: got %d; want 1", ended)
	}
	// The answer went from a goroutine, or the socket was shut down first:
	// either way the client is not left waiting.
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err = http.ReadResponse(br, nil)
	if err == nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if got := string(b); !strings.HasPrefix(got, "round ") {
			t.Errorf("second answer: got %q; want %q", got, "round N")
		}
	} else if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Error("second answer: the client still waits 5 s after the loop stopped")
	}
}

// TestRoundHandlerOff: a RoundFD the loop cannot watch (a regular file's)
// turns the rounds off: no round calls at all, and the answers still go.
func TestRoundHandlerOff(t *testing.T) {
	h := newRounding(t)
	f, err := os.Create(filepath.Join(t.TempDir(), "not-pollable"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h.fd = int(f.Fd())
	_, addr := start(t, h, nil)
	vias, bodies := postSeries(t, addr, 20)
	for i := range vias {
		if got := vias[i] + " " + bodies[i]; got != "try later" && got != "loop no round" {
			t.Errorf("answer %d: got %q; want %q or %q", i, got, "try later", "loop no round")
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.rounds != 0 || len(h.bad) != 0 {
		t.Errorf("round calls: got %d rounds, %q; want none", h.rounds, h.bad)
	}
}
