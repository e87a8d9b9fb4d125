package api_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"kvhttp/api"
	"kvhttp/store"
	"kvhttp/store/boltstore"
)

// asyncWriter is what the API looks for in a store to answer PUT and
// DELETE of /kv/{key} without blocking (api/async.go).
type asyncWriter interface {
	PutAsync(key, value, contentType []byte, cond store.Cond, then func(store.Result, error)) error
	DeleteAsync(key []byte, cond store.Cond, then func(store.Result, error)) error
}

// countingStore is a boltstore.Store, asynchronous writes and all, that
// counts the writes handed to it asynchronously: it tells which path
// served a request.
type countingStore struct {
	*boltstore.Store
	async atomic.Int64
}

func (s *countingStore) PutAsync(key, value, contentType []byte, cond store.Cond, then func(store.Result, error)) error {
	s.async.Add(1)
	return s.Store.PutAsync(key, value, contentType, cond, then)
}

func (s *countingStore) DeleteAsync(key []byte, cond store.Cond, then func(store.Result, error)) error {
	s.async.Add(1)
	return s.Store.DeleteAsync(key, cond, then)
}

// blockingStore forwards api.Store to a boltstore.Store but has neither
// PutAsync nor DeleteAsync: over it the API writes with the blocking Put
// and Delete (putKey and deleteKey).
type blockingStore struct{ s *boltstore.Store }

func (b blockingStore) Get(ctx context.Context, key, buf []byte) (store.Item, error) {
	return b.s.Get(ctx, key, buf)
}

func (b blockingStore) Put(ctx context.Context, key, value, contentType []byte, cond store.Cond) (store.Result, error) {
	return b.s.Put(ctx, key, value, contentType, cond)
}

func (b blockingStore) Delete(ctx context.Context, key []byte, cond store.Cond) error {
	return b.s.Delete(ctx, key, cond)
}

func (b blockingStore) List(ctx context.Context, opts store.ListOptions, fn func(store.Item) error) error {
	return b.s.List(ctx, opts, fn)
}

func (b blockingStore) PutAll(ctx context.Context, items []store.Item) error {
	return b.s.PutAll(ctx, items)
}

func (b blockingStore) Close() error { return b.s.Close() }

var (
	_ api.Store   = (*countingStore)(nil)
	_ asyncWriter = (*countingStore)(nil)
	_ api.Store   = blockingStore{}
)

// openBolt opens an empty store in a new directory.
func openBolt(t *testing.T) *boltstore.Store {
	t.Helper()
	st, err := boltstore.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// diffOptions are the API options of both servers: a small value limit,
// so that 413 is cheap to reach.
var diffOptions = api.Options{MaxValueBytes: 16}

// The path a step's writes are expected to take.
const (
	eitherPath   = iota // not checked: it depends on how the bytes arrive
	asyncPath           // TryServeHTTP hands each write to PutAsync/DeleteAsync
	blockingPath        // TryServeHTTP declines: ServeHTTP answers
)

// dstep is one step of the differential test: requests written to both
// servers, whose responses must be alike.
type dstep struct {
	name string
	// reqs are whole requests, written in one write (pipelined, if
	// several). "{etag}" in them stands for the last ETag the servers
	// sent, "{version}" for the number in it.
	reqs []string
	// split, if positive, writes the requests in two writes, the first
	// of split bytes.
	split int
	// expect: reqs[0] carries Expect: 100-continue; its head goes first,
	// and its body after the interim response, if one comes.
	expect bool
	// closes: the server must close the connection after the last
	// response (the runner checks, and dials anew for the next step).
	closes bool
	want   []int // the statuses, interim ones included
	path   int   // eitherPath, asyncPath or blockingPath
}

// reply is a response as compared: everything but its Date field.
type reply struct {
	status int
	text   string // the comparable rendering
	etag   string
	ctype  string
	length string // Content-Length
	body   string
}

// peer is one of the two servers under comparison, with the client's
// connection to it.
type peer struct {
	name  string
	addr  string
	conn  net.Conn
	br    *bufio.Reader
	trace bytes.Buffer // every byte received, on every connection
}

func (p *peer) dial(t *testing.T) {
	t.Helper()
	c, err := net.Dial("tcp", p.addr)
	if err != nil {
		t.Fatalf("%s: %v", p.name, err)
	}
	t.Cleanup(func() { c.Close() })
	p.conn = c
	p.trace.WriteString("--- new connection\r\n")
	p.br = bufio.NewReader(io.TeeReader(c, &p.trace))
}

// hangUp closes the client's side of the connection, if open.
func (p *peer) hangUp() {
	if p.conn != nil {
		p.conn.Close()
		p.conn, p.br = nil, nil
	}
}

// exchange writes the step's requests and reads every response to them.
func (p *peer) exchange(t *testing.T, s dstep, reqs []string) []reply {
	t.Helper()
	if p.conn == nil {
		p.dial(t)
	}
	if err := p.conn.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatalf("%s: %s: %v", p.name, s.name, err)
	}
	write := func(b string) {
		t.Helper()
		if _, err := io.WriteString(p.conn, b); err != nil {
			t.Fatalf("%s: %s: writing: %v", p.name, s.name, err)
		}
	}
	all := strings.Join(reqs, "")
	var replies []reply
	switch {
	case s.expect:
		head, body, ok := strings.Cut(reqs[0], "\r\n\r\n")
		if !ok || len(reqs) != 1 {
			t.Fatalf("%s: a 100-continue step is one request with a head", s.name)
		}
		write(head + "\r\n\r\n")
		r := p.read(t, s, methodOf(reqs[0]))
		replies = append(replies, r)
		if r.status == 100 {
			write(body)
			replies = append(replies, p.read(t, s, methodOf(reqs[0])))
		}
	default:
		if s.split > 0 {
			write(all[:s.split])
			all = all[s.split:]
		}
		write(all)
		for _, req := range reqs {
			r := p.read(t, s, methodOf(req))
			for r.status/100 == 1 { // not asked for: compared all the same
				replies = append(replies, r)
				r = p.read(t, s, methodOf(req))
			}
			replies = append(replies, r)
		}
	}
	if s.closes {
		// The server must have closed the connection: the next read ends
		// (within the deadline) without a byte.
		b, err := p.br.ReadByte()
		if !errors.Is(err, io.EOF) {
			t.Errorf("%s: %s: after the last response: got byte %q, %v; want the connection closed (%v)", p.name, s.name, b, err, io.EOF)
		}
		p.hangUp()
	}
	return replies
}

// read reads one response to a request of the method.
func (p *peer) read(t *testing.T, s dstep, method string) reply {
	t.Helper()
	resp, err := http.ReadResponse(p.br, &http.Request{Method: method})
	if err != nil {
		t.Fatalf("%s: %s: reading a response to %s: %v", p.name, s.name, method, err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("%s: %s: reading the body of a response to %s: %v", p.name, s.name, method, err)
	}
	h := resp.Header.Clone()
	h.Del("Date")
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", resp.Proto, resp.Status)
	for _, k := range slices.Sorted(maps.Keys(h)) {
		for _, v := range h[k] {
			fmt.Fprintf(&b, " | %s: %s", k, v)
		}
	}
	fmt.Fprintf(&b, " | Close %v | ContentLength %d | TransferEncoding %q | body %q", resp.Close, resp.ContentLength, resp.TransferEncoding, body)
	return reply{
		status: resp.StatusCode,
		text:   b.String(),
		etag:   resp.Header.Get("ETag"),
		ctype:  resp.Header.Get("Content-Type"),
		length: resp.Header.Get("Content-Length"),
		body:   string(body),
	}
}

func methodOf(req string) string {
	m, _, _ := strings.Cut(req, " ")
	return m
}

// Requests, spelled out.

// req is a request without a body (nor Content-Length); fields are
// name, value, ...
func req(method, target string, fields ...string) string {
	return head("HTTP/1.1", method, target, fields...) + "\r\n"
}

// put is a PUT with a body framed by Content-Length.
func put(target, body string, fields ...string) string {
	return withBody("PUT", target, body, fields...)
}

func withBody(method, target, body string, fields ...string) string {
	return head("HTTP/1.1", method, target, fields...) + "Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
}

func head(version, method, target string, fields ...string) string {
	var b strings.Builder
	b.WriteString(method + " " + target + " " + version + "\r\nHost: kv.test\r\n")
	for i := 0; i+1 < len(fields); i += 2 {
		b.WriteString(fields[i] + ": " + fields[i+1] + "\r\n")
	}
	return b.String()
}

// differential is the pair of servers and what the runner knows.
type differential struct {
	t       *testing.T
	async   *peer
	block   *peer
	counter *countingStore
	etag    string            // the last ETag seen
	model   map[string]stored // what the store holds, by key
	writes  int64             // writes handed to PutAsync or DeleteAsync
	missed  []string          // asyncPath steps whose writes did not all go so
}

// stored is a value as the model has it.
type stored struct{ value, ctype, etag string }

func newDifferential(t *testing.T) *differential {
	t.Helper()
	counter := &countingStore{Store: openBolt(t)}
	plain := blockingStore{openBolt(t)}
	if _, ok := any(plain).(asyncWriter); ok {
		t.Fatal("blockingStore writes asynchronously: got an asyncWriter; want none")
	}
	a := startServerOn(t, counter, diffOptions)
	b := startServerOn(t, plain, diffOptions)
	return &differential{
		t:       t,
		async:   &peer{name: "async", addr: a.addr},
		block:   &peer{name: "blocking", addr: b.addr},
		counter: counter,
		model:   map[string]stored{},
	}
}

// run runs the step on both servers and compares their answers.
func (d *differential) run(s dstep) {
	t := d.t
	t.Helper()
	reqs := make([]string, len(s.reqs))
	for i, r := range s.reqs {
		r = strings.ReplaceAll(r, "{etag}", d.etag)
		reqs[i] = strings.ReplaceAll(r, "{version}", strings.Trim(d.etag, `"`))
	}
	before := d.counter.async.Load()
	got := d.async.exchange(t, s, reqs)
	asyncWrites := d.counter.async.Load() - before
	d.writes += asyncWrites
	want := d.block.exchange(t, s, reqs)
	if len(got) != len(want) {
		t.Fatalf("%s: async path: got %d responses; want %d (blocking path)", s.name, len(got), len(want))
	}
	for i := range got {
		if got[i].text != want[i].text {
			t.Errorf("%s, response %d:\nasync path: got %v;\nwant (blocking path) %v", s.name, i, got[i].text, want[i].text)
		}
	}
	statuses := make([]int, len(got))
	for i, r := range got {
		statuses[i] = r.status
	}
	if !slices.Equal(statuses, s.want) {
		t.Errorf("%s: got statuses %v; want %v", s.name, statuses, s.want)
	}
	writes := int64(0)
	for _, r := range reqs {
		if m := methodOf(r); m == "PUT" || m == "DELETE" {
			writes++
		}
	}
	switch s.path {
	case asyncPath:
		if asyncWrites != writes {
			d.missed = append(d.missed, fmt.Sprintf("%s (%d of %d)", s.name, asyncWrites, writes))
		}
	case blockingPath:
		if asyncWrites != 0 {
			t.Errorf("%s: asynchronous writes: got %d; want %d (TryServeHTTP must decline)", s.name, asyncWrites, 0)
		}
	}
	d.check(s, reqs, got)
	for _, r := range got {
		if r.etag != "" {
			d.etag = r.etag
		}
	}
}

// check holds the responses against the model of the store: a write's
// ETag and value are what the next read sees.
func (d *differential) check(s dstep, reqs []string, replies []reply) {
	t := d.t
	t.Helper()
	var final []reply // without interim responses
	for _, r := range replies {
		if r.status >= 200 {
			final = append(final, r)
		}
	}
	if len(final) != len(reqs) {
		return // reported already
	}
	for i, raw := range reqs {
		r := final[i]
		hr, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
		if err != nil || !strings.HasPrefix(hr.URL.EscapedPath(), "/kv/") {
			continue // not one the model follows (a malformed key, say)
		}
		key, err := url.PathUnescape(strings.TrimPrefix(hr.URL.EscapedPath(), "/kv/"))
		if err != nil {
			continue
		}
		cur, present := d.model[key]
		name := fmt.Sprintf("%s, %s %q", s.name, hr.Method, key)
		switch {
		case hr.Method == "PUT" && (r.status == 201 || r.status == 204):
			if created := r.status == 201; created == present {
				t.Errorf("%s: got %d with the key present %v; want 201 for a new key, 204 for a replacement", name, r.status, present)
			}
			body, err := io.ReadAll(hr.Body)
			if err != nil {
				t.Fatalf("%s: reading back the request body: %v", name, err)
			}
			if r.etag == "" || r.etag == cur.etag {
				t.Errorf("%s: got ETag %q; want a new one (was %q)", name, r.etag, cur.etag)
			}
			d.model[key] = stored{value: string(body), ctype: hr.Header.Get("Content-Type"), etag: r.etag}
		case hr.Method == "DELETE" && r.status == 204:
			if !present {
				t.Errorf("%s: got %d; want %d for an absent key", name, r.status, 404)
			}
			delete(d.model, key)
		case hr.Method == "DELETE" && r.status == 404:
			if present {
				t.Errorf("%s: got %d; want a 204 or 412 for a present key", name, r.status)
			}
		case (hr.Method == "GET" || hr.Method == "HEAD") && r.status == 200:
			if !present {
				t.Errorf("%s: got %d; want %d for an absent key", name, r.status, 404)
				continue
			}
			ct := cmp(cur.ctype, "application/octet-stream")
			if r.etag != cur.etag || r.ctype != ct || r.length != strconv.Itoa(len(cur.value)) {
				t.Errorf("%s: got ETag %s, Content-Type %q, Content-Length %s; want %s, %q, %d", name, r.etag, r.ctype, r.length, cur.etag, ct, len(cur.value))
			}
			if hr.Method == "GET" && r.body != cur.value {
				t.Errorf("%s: got value %q; want %q", name, r.body, cur.value)
			}
		case (hr.Method == "GET" || hr.Method == "HEAD") && r.status == 404:
			if present {
				t.Errorf("%s: got %d; want %d (value %q, ETag %s)", name, r.status, 200, cur.value, cur.etag)
			}
		}
	}
}

func cmp(s, orElse string) string {
	if s == "" {
		return orElse
	}
	return s
}

// finish compares the byte streams the two servers sent, Date fields
// aside, and reports on the path the writes took.
func (d *differential) finish() {
	t := d.t
	t.Helper()
	d.async.hangUp()
	d.block.hangUp()
	got, want := undated(d.async.trace.String()), undated(d.block.trace.String())
	if got != want {
		gl, wl := strings.Split(got, "\r\n"), strings.Split(want, "\r\n")
		for i := range max(len(gl), len(wl)) {
			g, w := "<end>", "<end>"
			if i < len(gl) {
				g = gl[i]
			}
			if i < len(wl) {
				w = wl[i]
			}
			if g != w {
				t.Errorf("the bytes the servers sent differ at line %d: async path: got %q; want (blocking path) %q", i+1, g, w)
				break
			}
		}
	}
	if len(d.missed) > 0 {
		t.Logf("steps whose writes did not all go asynchronously (the bytes may have arrived in pieces): %v", d.missed)
	}
	if d.writes == 0 {
		t.Errorf("asynchronous writes: got %d; want some (TryServeHTTP never served?)", d.writes)
	}
	t.Logf("%d writes went through PutAsync or DeleteAsync", d.writes)
}

// undated drops the Date fields of a response stream.
func undated(s string) string {
	lines := strings.Split(s, "\r\n")
	return strings.Join(slices.DeleteFunc(lines, func(l string) bool {
		return strings.HasPrefix(strings.ToLower(l), "date:")
	}), "\r\n")
}

// TestDifferentialAsyncWrites runs one sequence of requests against the
// API over the embedded store, which answers PUT and DELETE of /kv/{key}
// through TryServeHTTP and the store's asynchronous writes, and against
// the API over the same store without them (the blocking putKey and
// deleteKey): every response must be the same, Date aside.
func TestDifferentialAsyncWrites(t *testing.T) {
	d := newDifferential(t)
	ct := "Content-Type"
	long := strings.Repeat("k", api.DefaultMaxKeyBytes)
	chunked := "PUT /kv/chunked HTTP/1.1\r\nHost: kv.test\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n3\r\n!!!\r\n0\r\n\r\n"
	steps := []dstep{
		{name: "read absent", reqs: []string{req("GET", "/kv/k")}, want: []int{404}},
		{name: "put new", reqs: []string{put("/kv/k", "hello")}, want: []int{201}, path: asyncPath},
		{name: "get new", reqs: []string{req("GET", "/kv/k")}, want: []int{200}},
		{name: "head new", reqs: []string{req("HEAD", "/kv/k")}, want: []int{200}},
		{name: "put replace", reqs: []string{put("/kv/k", "world")}, want: []int{204}, path: asyncPath},
		{name: "get replaced", reqs: []string{req("GET", "/kv/k")}, want: []int{200}},
		{name: "put with content type", reqs: []string{put("/kv/typed", "{}", ct, "application/json")}, want: []int{201}, path: asyncPath},
		{name: "get typed", reqs: []string{req("GET", "/kv/typed")}, want: []int{200}},
		{name: "replace without content type", reqs: []string{put("/kv/typed", "x")}, want: []int{204}, path: asyncPath},
		{name: "get untyped", reqs: []string{req("GET", "/kv/typed")}, want: []int{200}},
		{name: "put empty body", reqs: []string{put("/kv/empty", "")}, want: []int{201}, path: asyncPath},
		{name: "get empty", reqs: []string{req("GET", "/kv/empty")}, want: []int{200}},
		{name: "put without framing", reqs: []string{req("PUT", "/kv/empty", ct, "text/plain")}, want: []int{204}, path: asyncPath},
		{name: "head empty", reqs: []string{req("HEAD", "/kv/empty")}, want: []int{200}},
		{name: "value at the limit", reqs: []string{put("/kv/full", strings.Repeat("v", 16))}, want: []int{201}, path: asyncPath},
		{name: "get full", reqs: []string{req("GET", "/kv/full")}, want: []int{200}},
		{name: "binary value", reqs: []string{put("/kv/bin", "\x00\r\n\xff")}, want: []int{201}, path: asyncPath},
		{name: "get binary", reqs: []string{req("GET", "/kv/bin")}, want: []int{200}},
		{name: "empty content type", reqs: []string{put("/kv/bin", "b", ct, "")}, want: []int{204}, path: asyncPath},
		{name: "get with empty content type", reqs: []string{req("GET", "/kv/bin")}, want: []int{200}},

		// Preconditions that map onto one store condition.
		{name: "create-only on existing", reqs: []string{put("/kv/k", "no", "If-None-Match", "*")}, want: []int{412}, path: asyncPath},
		{name: "get after failed create-only", reqs: []string{req("GET", "/kv/k")}, want: []int{200}},
		{name: "create-only on new", reqs: []string{put("/kv/fresh", "yes", "If-None-Match", "*")}, want: []int{201}, path: asyncPath},
		{name: "get created", reqs: []string{req("GET", "/kv/fresh")}, want: []int{200}},
		{name: "head for the current tag", reqs: []string{req("HEAD", "/kv/k")}, want: []int{200}},
		{name: "cas current", reqs: []string{put("/kv/k", "swapped", "If-Match", "{etag}")}, want: []int{204}, path: asyncPath},
		{name: "get swapped", reqs: []string{req("GET", "/kv/k")}, want: []int{200}},
		{name: "cas wrong version", reqs: []string{put("/kv/k", "lost", "If-Match", `"424242"`)}, want: []int{412}, path: asyncPath},
		{name: "cas with spaces around the tag", reqs: []string{put("/kv/k", "lost", "If-Match", ` "424241"  `)}, want: []int{412}, path: asyncPath},
		{name: "get after failed cas", reqs: []string{req("GET", "/kv/k")}, want: []int{200}},
		{name: "update-only on missing", reqs: []string{put("/kv/missing", "no", "If-Match", "*")}, want: []int{412}, path: asyncPath},
		{name: "cas on missing", reqs: []string{put("/kv/missing", "no", "If-Match", `"1"`)}, want: []int{412}, path: asyncPath},
		{name: "get missing", reqs: []string{req("GET", "/kv/missing")}, want: []int{404}},
		{name: "update-only on existing", reqs: []string{put("/kv/k", "updated", "If-Match", "*")}, want: []int{204}, path: asyncPath},
		{name: "get updated", reqs: []string{req("GET", "/kv/k")}, want: []int{200}},
		{name: "cas with tag zero", reqs: []string{put("/kv/k", "lost", "If-Match", `"0"`)}, want: []int{412}, path: blockingPath},
		{name: "cas with a huge version", reqs: []string{put("/kv/k", "lost", "If-Match", `"18446744073709551615"`)}, want: []int{412}, path: asyncPath},

		// Deletes.
		{name: "delete existing", reqs: []string{req("DELETE", "/kv/fresh")}, want: []int{204}, path: asyncPath},
		{name: "get deleted", reqs: []string{req("GET", "/kv/fresh")}, want: []int{404}},
		{name: "delete missing", reqs: []string{req("DELETE", "/kv/fresh")}, want: []int{404}, path: asyncPath},
		{name: "delete cas wrong", reqs: []string{req("DELETE", "/kv/k", "If-Match", `"424242"`)}, want: []int{412}, path: asyncPath},
		{name: "get after failed delete", reqs: []string{req("GET", "/kv/k")}, want: []int{200}},
		{name: "delete cas current", reqs: []string{req("DELETE", "/kv/k", "If-Match", "{etag}")}, want: []int{204}, path: asyncPath},
		{name: "head deleted", reqs: []string{req("HEAD", "/kv/k")}, want: []int{404}},
		{name: "delete-if-present on missing", reqs: []string{req("DELETE", "/kv/k", "If-Match", "*")}, want: []int{412}, path: asyncPath},
		{name: "delete cas on missing", reqs: []string{req("DELETE", "/kv/k", "If-Match", `"3"`)}, want: []int{412}, path: asyncPath},
		{name: "delete-if-absent on missing", reqs: []string{req("DELETE", "/kv/k", "If-None-Match", "*")}, want: []int{404}, path: blockingPath},
		{name: "delete-if-absent on existing", reqs: []string{req("DELETE", "/kv/typed", "If-None-Match", "*")}, want: []int{412}, path: blockingPath},
		{name: "delete-if-present on existing", reqs: []string{req("DELETE", "/kv/typed", "If-Match", "*")}, want: []int{204}, path: asyncPath},
		{name: "delete with a body", reqs: []string{withBody("DELETE", "/kv/bin", "ignored")}, want: []int{204}, path: asyncPath},
		{name: "get after delete with a body", reqs: []string{req("GET", "/kv/bin")}, want: []int{404}},

		// Keys.
		{name: "percent-encoded key", reqs: []string{put("/kv/a%2Fb", "slash")}, want: []int{201}, path: asyncPath},
		{name: "get by raw slash", reqs: []string{req("GET", "/kv/a/b")}, want: []int{200}},
		{name: "replace by raw slash", reqs: []string{put("/kv/a/b", "raw")}, want: []int{204}, path: asyncPath},
		{name: "get by encoded slash", reqs: []string{req("GET", "/kv/a%2fb")}, want: []int{200}},
		{name: "encoded key with unicode and plus", reqs: []string{put("/kv/%E2%9C%93%20ok+", "check")}, want: []int{201}, path: asyncPath},
		{name: "get unicode key", reqs: []string{req("GET", "/kv/%e2%9c%93%20ok%2B")}, want: []int{200}},
		{name: "dot-dot key", reqs: []string{put("/kv/%2E%2E", "dots")}, want: []int{201}, path: asyncPath},
		{name: "delete encoded key", reqs: []string{req("DELETE", "/kv/a%2Fb")}, want: []int{204}, path: asyncPath},
		{name: "get deleted encoded key", reqs: []string{req("GET", "/kv/a/b")}, want: []int{404}},
		{name: "key with a query", reqs: []string{put("/kv/q?x=1&y", "query")}, want: []int{201}, path: asyncPath},
		{name: "get key with a query", reqs: []string{req("GET", "/kv/q")}, want: []int{200}},
		{name: "absolute-form target", reqs: []string{put("http://kv.test/kv/abs", "abs")}, want: []int{201}, path: asyncPath},
		{name: "get absolute", reqs: []string{req("GET", "/kv/abs")}, want: []int{200}},
		{name: "malformed key", reqs: []string{put("/kv/bad%zz", "x")}, want: []int{400}, path: blockingPath},
		{name: "delete malformed key", reqs: []string{req("DELETE", "/kv/bad%2")}, want: []int{400}, path: blockingPath},
		{name: "key of NUL and 0xFF", reqs: []string{put("/kv/%00%FF", "nul")}, want: []int{201}, path: asyncPath},
		{name: "get NUL key", reqs: []string{req("GET", "/kv/%00%ff")}, want: []int{200}},
		{name: "longest key", reqs: []string{put("/kv/"+long, "long")}, want: []int{201}, path: asyncPath},
		{name: "get longest key", reqs: []string{req("GET", "/kv/"+long)}, want: []int{200}},
		{name: "key too long", reqs: []string{put("/kv/"+long+"k", "x")}, want: []int{414}, path: blockingPath},
		{name: "delete key too long", reqs: []string{req("DELETE", "/kv/"+long+"k")}, want: []int{414}, path: blockingPath},
		{name: "encoded key too long", reqs: []string{put("/kv/"+strings.Repeat("%41", api.DefaultMaxKeyBytes+1), "x")}, want: []int{414}, path: blockingPath},
		{name: "empty key", reqs: []string{put("/kv/", "x")}, want: []int{405}, path: blockingPath},
		{name: "content type too long", reqs: []string{put("/kv/ct", "x", ct, strings.Repeat("t", 256))}, want: []int{400}, path: blockingPath},
		{name: "get after refused content type", reqs: []string{req("GET", "/kv/ct")}, want: []int{404}},

		// Preconditions that ServeHTTP evaluates.
		{name: "put again for tags", reqs: []string{put("/kv/t", "v1")}, want: []int{201}, path: asyncPath},
		{name: "cas list holding current", reqs: []string{put("/kv/t", "v2", "If-Match", `"424242", {etag}`)}, want: []int{204}, path: blockingPath},
		{name: "get after list cas", reqs: []string{req("GET", "/kv/t")}, want: []int{200}},
		{name: "cas weak tag", reqs: []string{put("/kv/t", "v3", "If-Match", "W/{etag}")}, want: []int{412}, path: blockingPath},
		{name: "both preconditions holding", reqs: []string{put("/kv/t", "v4", "If-Match", "{etag}", "If-None-Match", `"424242"`)}, want: []int{204}, path: blockingPath},
		{name: "two If-Match fields", reqs: []string{put("/kv/t", "v5", "If-Match", `"424242"`, "If-Match", "{etag}")}, want: []int{204}, path: blockingPath},
		{name: "If-None-Match with the current tag", reqs: []string{put("/kv/t", "v6", "If-None-Match", "{etag}")}, want: []int{412}, path: blockingPath},
		{name: "If-None-Match with a stale tag", reqs: []string{put("/kv/t", "v7", "If-None-Match", `"1"`)}, want: []int{204}, path: blockingPath},
		{name: "tag with a leading zero", reqs: []string{put("/kv/t", "v8", "If-Match", `"0{version}"`)}, want: []int{412}, path: blockingPath},
		{name: "empty If-Match", reqs: []string{put("/kv/t", "v9", "If-Match", "")}, want: []int{412}, path: blockingPath},
		{name: "delete cas list", reqs: []string{req("DELETE", "/kv/t", "If-Match", `"1", {etag}`)}, want: []int{204}, path: blockingPath},
		{name: "get after delete list", reqs: []string{req("GET", "/kv/t")}, want: []int{404}},

		// Bodies the event loop does not take.
		{name: "chunked put", reqs: []string{chunked}, want: []int{201}, path: blockingPath},
		{name: "get chunked", reqs: []string{req("GET", "/kv/chunked")}, want: []int{200}},
		{name: "empty chunked put", reqs: []string{"PUT /kv/chunked HTTP/1.1\r\nHost: kv.test\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"}, want: []int{204}, path: blockingPath},
		{name: "get empty chunked", reqs: []string{req("GET", "/kv/chunked")}, want: []int{200}},
		{name: "expect 100-continue", reqs: []string{put("/kv/expect", "body", "Expect", "100-continue")}, expect: true, want: []int{100, 201}, path: blockingPath},
		{name: "get expected", reqs: []string{req("GET", "/kv/expect")}, want: []int{200}},
		{name: "expect 100-continue, empty", reqs: []string{put("/kv/expect", "", "Expect", "100-continue")}, expect: true, want: []int{204}, path: blockingPath},
		{name: "get expected empty", reqs: []string{req("GET", "/kv/expect")}, want: []int{200}},
		{name: "body in two writes", reqs: []string{put("/kv/split", "0123456789")}, split: len(put("/kv/split", "0123456789")) - 5, want: []int{201}},
		{name: "get split", reqs: []string{req("GET", "/kv/split")}, want: []int{200}},

		// Pipelined, in one write.
		{name: "pipelined writes and reads", reqs: []string{
			put("/kv/p1", "one"),
			put("/kv/p2", "two", ct, "text/plain"),
			req("GET", "/kv/p1"),
			put("/kv/p1", "uno"),
			req("HEAD", "/kv/p1"),
			req("DELETE", "/kv/p2"),
			req("GET", "/kv/p2"),
			put("/kv/p3", "three", "If-None-Match", "*"),
			put("/kv/p3", "tres", "If-None-Match", "*"),
			req("GET", "/kv/p3"),
			req("DELETE", "/kv/p2"),
			req("GET", "/kv/p1"),
		}, want: []int{201, 201, 200, 204, 200, 204, 404, 201, 412, 200, 404, 200}},
		{name: "pipelined with the blocking path between", reqs: []string{
			put("/kv/p4", "four"),
			"PUT /kv/p4 HTTP/1.1\r\nHost: kv.test\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nvier\r\n0\r\n\r\n",
			put("/kv/p4", "quatre", "If-Match", `"424242", "424243"`),
			req("GET", "/kv/p4"),
			put("/kv/p4", "cuatro"),
			req("DELETE", "/kv/p4", "If-None-Match", "*"),
			req("DELETE", "/kv/p4"),
			req("GET", "/kv/p4"),
			req("OPTIONS", "/kv/p4"),
			req("GET", "/kv/p1"),
		}, want: []int{201, 204, 412, 200, 204, 412, 204, 404, 204, 200}},
		{name: "pipelined puts of new keys", reqs: []string{
			put("/kv/q1", "a"), put("/kv/q2", "b"), put("/kv/q3", "c"), put("/kv/q4", "d"),
			put("/kv/q5", "e"), put("/kv/q6", "f"), put("/kv/q7", "g"), put("/kv/q8", "h"),
			req("GET", "/kv/q1"), req("GET", "/kv/q8"),
		}, want: []int{201, 201, 201, 201, 201, 201, 201, 201, 200, 200}, path: asyncPath},

		// Responses that close the connection; the next step dials anew.
		{name: "pipelined, the last closing", reqs: []string{
			put("/kv/r1", "a"), put("/kv/r1", "b", "If-Match", "*"), req("DELETE", "/kv/r1", "Connection", "close"),
		}, closes: true, want: []int{201, 204, 204}, path: asyncPath},
		{name: "pipelined, then garbage", reqs: []string{put("/kv/r2", "a"), "GARBAGE\r\n\r\n"}, closes: true, want: []int{201, 400}},
		{name: "get after garbage", reqs: []string{req("GET", "/kv/r2")}, want: []int{200}},
		{name: "lower-case method", reqs: []string{"put" + strings.TrimPrefix(put("/kv/lower", "x"), "PUT")}, closes: true, want: []int{501}, path: blockingPath},
		{name: "get after lower-case method", reqs: []string{req("GET", "/kv/lower")}, want: []int{404}},
		{name: "value too large", reqs: []string{head("HTTP/1.1", "PUT", "/kv/big") + "Content-Length: 17\r\n\r\n"}, closes: true, want: []int{413}, path: blockingPath},
		{name: "get after value too large", reqs: []string{req("GET", "/kv/big")}, want: []int{404}},
		{name: "value too large, chunked", reqs: []string{"PUT /kv/big HTTP/1.1\r\nHost: kv.test\r\nTransfer-Encoding: chunked\r\n\r\n11\r\n" + strings.Repeat("v", 17) + "\r\n0\r\n\r\n"}, closes: true, want: []int{413}, path: blockingPath},
		{name: "value too large, expecting 100-continue", reqs: []string{head("HTTP/1.1", "PUT", "/kv/big", "Expect", "100-continue") + "Content-Length: 17\r\n\r\n"}, expect: true, closes: true, want: []int{413}, path: blockingPath},
		{name: "get after values too large", reqs: []string{req("GET", "/kv/big")}, want: []int{404}},
		{name: "put closing the connection", reqs: []string{put("/kv/close", "bye", "Connection", "close")}, closes: true, want: []int{201}, path: asyncPath},
		{name: "delete closing the connection", reqs: []string{req("DELETE", "/kv/close", "Connection", "close")}, closes: true, want: []int{204}, path: asyncPath},
		{name: "HTTP/1.0 put", reqs: []string{head("HTTP/1.0", "PUT", "/kv/old") + "Content-Length: 3\r\n\r\nold"}, closes: true, want: []int{201}, path: asyncPath},
		{name: "HTTP/1.0 keep-alive put", reqs: []string{head("HTTP/1.0", "PUT", "/kv/old", "Connection", "keep-alive") + "Content-Length: 3\r\n\r\nnew"}, want: []int{204}, path: asyncPath},
		{name: "get old", reqs: []string{req("GET", "/kv/old")}, want: []int{200}},
		{name: "list everything", reqs: []string{req("GET", "/")}, want: []int{200}},
	}
	for _, s := range steps {
		d.run(s)
	}
	d.finish()
}

// TestDifferentialAsyncPipelinedBulk is TestDifferentialAsyncWrites for
// one write of more pipelined requests than the event loop serves before
// reading again (bulkAfter in package server): the goroutine that goes on
// takes a bulk turn, and some of the requests it serves are answered
// asynchronously.
func TestDifferentialAsyncPipelinedBulk(t *testing.T) {
	d := newDifferential(t)
	for _, s := range []dstep{
		{name: "pipelined past the loop's run of requests", reqs: bulk(80), want: bulkWant(80, 201)},
		{name: "get the first", reqs: []string{req("GET", "/kv/bulk000")}, want: []int{200}},
		{name: "pipelined replacements", reqs: bulk(80), want: bulkWant(80, 204)},
		{name: "get the last", reqs: []string{req("GET", "/kv/bulk039")}, want: []int{200}},
	} {
		d.run(s)
	}
	d.finish()
}

// bulk is n requests for one write, alternately PUTs of new keys and GETs
// of them: more than the event loop serves before reading again, and
// more bytes than one read takes.
func bulk(n int) []string {
	reqs := make([]string, n)
	for i := range reqs {
		target := fmt.Sprintf("/kv/bulk%03d", i/2)
		if i%2 == 0 {
			reqs[i] = put(target, strconv.Itoa(i))
		} else {
			reqs[i] = req("GET", target)
		}
	}
	return reqs
}

// bulkWant is the statuses of bulk(n), its PUTs answered with put.
func bulkWant(n, put int) []int {
	want := make([]int, n)
	for i := range want {
		want[i] = 200
		if i%2 == 0 {
			want[i] = put
		}
	}
	return want
}

// TestAsyncConcurrentPuts: many clients writing distinct keys at once
// through the asynchronous path all get 201, and every value is there
// afterwards. Half the clients send one request at a time, the other
// half pipeline them in batches.
func TestAsyncConcurrentPuts(t *testing.T) {
	const clients, puts, batch = 32, 100, 10
	st := &countingStore{Store: openBolt(t)}
	srv := startServerOn(t, st, api.Options{})
	key := func(c, i int) string { return fmt.Sprintf("c%02d-%03d", c, i) }
	value := func(c, i int) string { return fmt.Sprintf("value of %d/%d", c, i) }
	var wg sync.WaitGroup
	for c := range clients {
		wg.Go(func() {
			conn, err := net.Dial("tcp", srv.addr)
			if err != nil {
				t.Error(err)
				return
			}
			defer conn.Close()
			if err := conn.SetDeadline(time.Now().Add(60 * time.Second)); err != nil {
				t.Error(err)
				return
			}
			br := bufio.NewReader(conn)
			n := 1
			if c%2 == 1 {
				n = batch
			}
			for i := 0; i < puts; i += n {
				var b strings.Builder
				for j := i; j < min(i+n, puts); j++ {
					b.WriteString(put("/kv/"+key(c, j), value(c, j)))
				}
				if _, err := io.WriteString(conn, b.String()); err != nil {
					t.Errorf("client %d: %v", c, err)
					return
				}
				for j := i; j < min(i+n, puts); j++ {
					resp, err := http.ReadResponse(br, &http.Request{Method: "PUT"})
					if err != nil {
						t.Errorf("client %d, PUT %s: %v", c, key(c, j), err)
						return
					}
					body, err := io.ReadAll(resp.Body)
					resp.Body.Close()
					if err != nil {
						t.Errorf("client %d, PUT %s: %v", c, key(c, j), err)
						return
					}
					if resp.StatusCode != 201 || resp.Header.Get("Location") != "/kv/"+key(c, j) || resp.Header.Get("ETag") == "" {
						t.Errorf("client %d, PUT %s: got %d Location %q ETag %q %s; want 201 with its Location and an ETag",
							c, key(c, j), resp.StatusCode, resp.Header.Get("Location"), resp.Header.Get("ETag"), body)
					}
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	if n := st.async.Load(); n == 0 {
		t.Errorf("asynchronous writes: got %d; want up to %d", n, clients*puts)
	} else {
		t.Logf("%d of %d PUTs went through PutAsync", n, clients*puts)
	}
	for c := range clients {
		for i := range puts {
			resp := srv.do(t, "GET", "/kv/"+key(c, i), "")
			if resp.Status != 200 || string(resp.Body) != value(c, i) {
				t.Fatalf("GET %s: got %d %q; want %d %q", key(c, i), resp.Status, resp.Body, 200, value(c, i))
			}
		}
	}
}
