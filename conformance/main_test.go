package conformance

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"testing"

	"kvhttp/api"
	"kvhttp/server"
	"kvhttp/store/boltstore"
)

// apiAddr is kvhttp's server with its API over a fresh store, as a user
// runs it; every test in this package sends its bytes there.
var apiAddr string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "kvhttp-conformance")
	if err != nil {
		panic(err)
	}
	st, err := boltstore.Open(dir, nil)
	if err != nil {
		panic(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	quiet := slog.New(slog.DiscardHandler)
	srv := &server.Server{Handler: api.New(st, api.Options{Logger: quiet}), Logger: quiet}
	go srv.Serve(l)
	apiAddr = l.Addr().String()
	code := m.Run()
	srv.Shutdown(context.Background())
	st.Close()
	os.RemoveAll(dir)
	os.Exit(code)
}

// result is one case's outcome and verdict.
type result struct {
	c   tcase
	got outcome
	err error
	ok  bool
}

// runAll runs cases against addr, jobs at a time, and returns their
// results in order.
func runAll(addr string, cases []tcase, opt matchOptions) []result {
	results := make([]result, len(cases))
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	for i, c := range cases {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			got, err := send(addr, c.raw)
			ok := err == nil && matches(c.expected, got, opt) && !oneXXToHTTP10(c.raw, got)
			results[i] = result{c: c, got: got, err: err, ok: ok}
		}()
	}
	wg.Wait()
	return results
}

// oneXXToHTTP10 reports an interim response to an HTTP/1.0 request, a
// violation whatever the case expects (RFC 9110 section 15.2).
func oneXXToHTTP10(raw string, o outcome) bool {
	line, _, _ := strings.Cut(raw, `\r\n`)
	if !strings.HasSuffix(line, "HTTP/1.0") {
		return false
	}
	for _, s := range o.statuses {
		if s >= 100 && s < 200 {
			return true
		}
	}
	return false
}

// TestOwnCases runs testdata/cases.tsv: the project's black-box suite.
func TestOwnCases(t *testing.T) {
	cases := readCases(t, "testdata/cases.tsv")
	if len(cases) < 80 {
		t.Fatalf("got %d cases; the suite promises at least 80", len(cases))
	}
	for _, r := range runAll(apiAddr, cases, matchOptions{}) {
		if !r.ok {
			t.Errorf("%s (%s): got %v (err %v); want %s", r.c.name, r.c.rule, r.got, r.err, r.c.expected)
		}
	}
}

func (r result) String() string { return fmt.Sprintf("%s: %v", r.c.name, r.got) }
