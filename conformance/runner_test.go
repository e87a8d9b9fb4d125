package conformance

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// A case is one line of a cases file: a name, the raw bytes in escaped
// notation, the expected outcome and the rule it checks.
//
// Notation of the bytes: \r \n \t \\ and \xHH escapes, {unit*N} for N
// copies of unit, <pause> to wait for answers a while, <shut_wr> to close
// the sending side. Notation of outcomes: a comma-separated list of
// statuses, one per final response, in order ("400", "2xx", "!400" for
// any but 400); "+close" or "+open" for the connection's state after;
// "wait" for no response and an open connection; "any"; alternatives
// separated by "|". The text after " -- " is a comment.
type tcase struct {
	name, raw, expected, rule string
}

// readCases reads a tab-separated cases file with a header line.
func readCases(t *testing.T, path string) []tcase {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var cases []tcase
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for n := 0; sc.Scan(); n++ {
		if n == 0 || strings.TrimSpace(sc.Text()) == "" || strings.HasPrefix(sc.Text(), "#") {
			continue
		}
		cols := strings.Split(sc.Text(), "\t")
		if len(cols) != 4 {
			t.Fatalf("%s:%d: %d columns; want 4", path, n+1, len(cols))
		}
		cases = append(cases, tcase{cols[0], cols[1], cols[2], cols[3]})
	}
	return cases
}

// segment is a piece of a case's input: bytes, or a pause or a shutdown.
type segment struct {
	data  []byte
	pause bool
	shut  bool
}

// decode turns the escaped notation into segments.
func decode(s string) ([]segment, error) {
	var segs []segment
	var cur []byte
	flush := func() {
		if len(cur) > 0 {
			segs = append(segs, segment{data: cur})
			cur = nil
		}
	}
	for i := 0; i < len(s); {
		switch {
		case strings.HasPrefix(s[i:], "<pause>"):
			flush()
			segs = append(segs, segment{pause: true})
			i += len("<pause>")
		case strings.HasPrefix(s[i:], "<shut_wr>"):
			flush()
			segs = append(segs, segment{shut: true})
			i += len("<shut_wr>")
		case s[i] == '{':
			j := strings.IndexByte(s[i:], '}')
			star := strings.LastIndexByte(s[i:i+j], '*')
			if j < 0 || star < 0 {
				return nil, fmt.Errorf("bad repetition at %d", i)
			}
			n, err := strconv.Atoi(s[i+star+1 : i+j])
			unit, uerr := decode(s[i+1 : i+star])
			if err != nil || uerr != nil || len(unit) != 1 {
				return nil, fmt.Errorf("bad repetition at %d", i)
			}
			cur = append(cur, bytes.Repeat(unit[0].data, n)...)
			i += j + 1
		case s[i] == '\\' && i+1 < len(s):
			switch s[i+1] {
			case 'r':
				cur = append(cur, '\r')
			case 'n':
				cur = append(cur, '\n')
			case 't':
				cur = append(cur, '\t')
			case '\\':
				cur = append(cur, '\\')
			case 'x':
				v, err := strconv.ParseUint(s[i+2:i+4], 16, 8)
				if err != nil {
					return nil, fmt.Errorf("bad \\x at %d", i)
				}
				cur = append(cur, byte(v))
				i += 2
			default:
				return nil, fmt.Errorf("bad escape \\%c", s[i+1])
			}
			i += 2
		default:
			cur = append(cur, s[i])
			i++
		}
	}
	flush()
	return segs, nil
}

// outcome is what a server did with a case.
type outcome struct {
	statuses []int // of the responses, in order; -1 for bytes that were no response
	closed   bool
	raw      []byte
}

func (o outcome) String() string {
	var parts []string
	for _, s := range o.statuses {
		parts = append(parts, strconv.Itoa(s))
	}
	state := "open"
	if o.closed {
		state = "closed"
	}
	if len(parts) == 0 {
		parts = []string{"-"}
	}
	return strings.Join(parts, ",") + " " + state
}

const (
	quiet     = 250 * time.Millisecond // silence that ends a read
	pauseTime = 600 * time.Millisecond // a <pause>
)

// send runs a case against the server at addr.
func send(addr, raw string) (outcome, error) {
	segs, err := decode(raw)
	if err != nil {
		return outcome{}, err
	}
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return outcome{}, err
	}
	defer c.Close()
	var o outcome
	for _, s := range segs {
		switch {
		case s.pause:
			var closed bool
			o.raw, closed = readFor(c, o.raw, pauseTime)
			if closed {
				o.closed = true
			}
		case s.shut:
			c.(*net.TCPConn).CloseWrite()
		default:
			if _, err := c.Write(s.data); err != nil {
				o.closed = true // the server stopped reading: collect its answer
			}
		}
		if o.closed {
			break
		}
	}
	var closed bool
	o.raw, closed = readFor(c, o.raw, quiet)
	o.closed = o.closed || closed
	o.statuses = splitResponses(o.raw, strings.HasPrefix(raw, "HEAD "))
	return o, nil
}

// readFor appends what arrives until the peer closes or is quiet for d.
func readFor(c net.Conn, data []byte, d time.Duration) ([]byte, bool) {
	buf := make([]byte, 64<<10)
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); {
		c.SetReadDeadline(time.Now().Add(d))
		n, err := c.Read(buf)
		data = append(data, buf[:n]...)
		if err != nil {
			var ne net.Error
			return data, !(errors.As(err, &ne) && ne.Timeout())
		}
	}
	return data, false
}

var statusLine = regexp.MustCompile(`^HTTP/\d\.\d (\d{3})[^\r\n]*\r?\n`)

// splitResponses returns the status of each response in data, interim ones
// included, framing the bodies by their fields (the first final response
// answers a HEAD if headFirst). Bytes that are no response give -1.
func splitResponses(data []byte, headFirst bool) []int {
	var out []int
	for pos, final := 0, 0; pos < len(data); {
		m := statusLine.FindSubmatchIndex(data[pos:])
		if m == nil {
			return append(out, -1)
		}
		code, _ := strconv.Atoi(string(data[pos+m[2] : pos+m[3]]))
		end := bytes.Index(data[pos:], []byte("\r\n\r\n"))
		if end < 0 {
			return append(out, code)
		}
		head := string(data[pos : pos+end])
		pos += end + 4
		out = append(out, code)
		if code < 200 {
			continue
		}
		bodyless := code == 204 || code == 304 || (headFirst && final == 0)
		final++
		if bodyless {
			continue
		}
		lower := strings.ToLower(head)
		switch {
		case strings.Contains(lower, "\r\ntransfer-encoding: chunked"):
			for {
				e := bytes.Index(data[pos:], []byte("\r\n"))
				if e < 0 {
					return out
				}
				size, err := strconv.ParseInt(string(bytes.SplitN(data[pos:pos+e], []byte(";"), 2)[0]), 16, 64)
				if err != nil {
					return append(out, -1)
				}
				pos += e + 2
				if size == 0 {
					if t := bytes.Index(data[pos-2:], []byte("\r\n\r\n")); t >= 0 {
						pos += t + 2
					} else {
						pos = len(data)
					}
					break
				}
				pos = min(pos+int(size)+2, len(data))
			}
		case strings.Contains(lower, "\r\ncontent-length: "):
			i := strings.Index(lower, "\r\ncontent-length: ") + len("\r\ncontent-length: ")
			j := strings.IndexAny(lower[i:]+"\r", "\r")
			n, _ := strconv.Atoi(strings.TrimSpace(lower[i : i+j]))
			pos = min(pos+n, len(data))
		default:
			pos = len(data)
		}
	}
	return out
}

// routeOK makes 404 and 405 count as "2xx": the parser accepted the
// request, and only routing said no (corpora written for another server's
// routes).
type matchOptions struct{ routeOK bool }

// matches reports whether o satisfies an expected outcome.
func matches(expected string, o outcome, opt matchOptions) bool {
	code, _, _ := strings.Cut(expected, " -- ")
	for _, alt := range strings.Split(strings.TrimSpace(code), "|") {
		needClose, needOpen := strings.HasSuffix(alt, "+close"), strings.HasSuffix(alt, "+open")
		alt = strings.TrimSuffix(strings.TrimSuffix(alt, "+close"), "+open")
		switch alt {
		case "any":
			return true
		case "none":
			if len(finals(o.statuses)) == 0 {
				return true
			}
			continue
		case "wait":
			if len(finals(o.statuses)) == 0 && !o.closed {
				return true
			}
			continue
		}
		toks := strings.Split(alt, ",")
		statuses := o.statuses
		if !strings.HasPrefix(alt, "1") && !strings.Contains(alt, ",1") {
			statuses = finals(statuses) // interim responses count only when expected
		}
		if len(toks) != len(statuses) {
			continue
		}
		ok := true
		for i, tok := range toks {
			ok = ok && statusMatches(tok, statuses[i], opt)
		}
		if ok && (!needClose || o.closed) && (!needOpen || !o.closed) {
			return true
		}
	}
	return false
}

// finals leaves out interim (1xx) statuses.
func finals(statuses []int) []int {
	var out []int
	for _, s := range statuses {
		if s < 100 || s >= 200 {
			out = append(out, s)
		}
	}
	return out
}

func statusMatches(tok string, s int, opt matchOptions) bool {
	if s < 0 {
		return false
	}
	if neg, ok := strings.CutPrefix(tok, "!"); ok {
		return !statusMatches(neg, s, opt)
	}
	if tok == "2xx" && opt.routeOK && (s == 404 || s == 405) {
		return true
	}
	if len(tok) == 3 && strings.HasSuffix(tok, "xx") {
		return strconv.Itoa(s)[0] == tok[0]
	}
	return strconv.Itoa(s) == tok
}
