package wire

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
)

// seen is what a server saw of one request, as plain values to compare.
type seen struct {
	Method, Target, Path, Query, Authority, Host string
	Minor                                        int
	Fields, Body, Trailer                        string
	KeepAlive                                    bool
	Expect                                       Expect
}

func fieldsString(h *Header) string {
	var b strings.Builder
	for name, value := range h.All() {
		fmt.Fprintf(&b, "%s=%q;", name, value)
	}
	return b.String()
}

// feeder hands a ServerConn or ClientConn the input step bytes at a time
// (all at once when step is 0), then EOF.
type feeder struct {
	in   string
	step int
	pos  int
}

func (f *feeder) next(feed func([]byte), eof func()) {
	if f.pos >= len(f.in) {
		eof()
		return
	}
	n := len(f.in) - f.pos
	if f.step > 0 && n > f.step {
		n = f.step
	}
	feed([]byte(f.in[f.pos : f.pos+n]))
	f.pos += n
}

// serve runs a ServerConn over in, answering every request with 200 after
// reading its body 7 bytes at a time, and returns what it saw and the error
// that ended it (nil for a clean end).
func serve(t testing.TB, lim Limits, in string, step int) ([]seen, error) {
	t.Helper()
	c := &ServerConn{Limits: lim}
	f := &feeder{in: in, step: step}
	more := func() { f.next(c.Feed, c.FeedEOF) }
	var out []seen
	buf := make([]byte, 7)
	for guard := 0; guard < 10*len(in)+100; guard++ {
		r, err := c.NextRequest()
		if errors.Is(err, ErrNeedMore) {
			more()
			continue
		}
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		s := seen{
			Method: r.Method, Target: string(r.Target), Path: string(r.Path), Query: string(r.Query),
			Authority: string(r.Authority), Host: string(r.Host()), Minor: r.Minor,
			Fields: fieldsString(&r.Header), KeepAlive: r.KeepAlive, Expect: r.Expect,
		}
		var body []byte
		for ; ; guard++ {
			if guard > 10*len(in)+100 {
				t.Fatalf("no progress reading the body of %q", in)
			}
			n, err := c.ReadBody(buf)
			body = append(body, buf[:n]...)
			if errors.Is(err, ErrNeedMore) {
				more()
				continue
			}
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return out, err
			}
		}
		s.Body, s.Trailer = string(body), fieldsString(&r.Trailer)
		out = append(out, s)
		if _, err := c.AppendResponse(nil, 200, nil, nil); err != nil {
			t.Fatalf("AppendResponse: %v", err)
		}
	}
	t.Fatalf("no progress on %q", in)
	return nil, nil
}

// requestIn returns a ServerConn fed in, its first request head parsed.
func requestIn(t testing.TB, in string) *ServerConn {
	t.Helper()
	c := &ServerConn{}
	c.Feed([]byte(in))
	if _, err := c.NextRequest(); err != nil {
		t.Fatalf("NextRequest(%q): %v", in, err)
	}
	return c
}

// modes are the ways every table case is fed.
var modes = []struct {
	name string
	step int
}{{"whole", 0}, {"bytewise", 1}, {"by5", 5}}
