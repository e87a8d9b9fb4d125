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
	"runtime"
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
	async  atomic.Int64
	synced atomic.Int64 // HeldSynced calls: the loop's own commits ending
	memory atomic.Int64 // reads GetInMemory answered
}

func (s *countingStore) GetInMemory(key, buf []byte) (store.Item, bool, error) {
	it, ok, err := s.Store.GetInMemory(key, buf)
	if ok {
		s.memory.Add(1)
	}
	return it, ok, err
}

func (s *countingStore) HeldSynced() {
	s.synced.Add(1)
	s.Store.HeldSynced()
}

func (s *countingStore) PutAsync(key, value, contentType []byte, cond store.Cond, then func(store.Result, error)) error {
	s.async.Add(1)
	return s.Store.PutAsync(key, value, contentType, cond, then)
}

func (s *countingStore) DeleteAsync(key []byte, cond store.Cond, then func(store.Result, error)) error {
	s.async.Add(1)
	return s.Store.DeleteAsync(key, cond, then)
}

// dialClient connects a client goroutine to addr, with a minute to do
// its work, and returns the connection and a reader on it; on failure it
// reports the error (t.Error: it runs off the test's goroutine) and
// returns nil.
func dialClient(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	conn, err := net.Dial("tcp", addr)
	if err == nil {
		err = conn.SetDeadline(time.Now().Add(60 * time.Second))
	}
	if err != nil {
		t.Error(err)
		if conn != nil {
			conn.Close()
		}
		return nil, nil
	}
	return conn, bufio.NewReader(conn)
}

// checkLoopCommits checks that the server's event loop committed writes
// itself, where the store can (64-bit Linux: HeldSyncFD is not -1).
func checkLoopCommits(t *testing.T, st *countingStore) {
	t.Helper()
	if st.HeldSyncFD() < 0 {
		return
	}
	if n := st.synced.Load(); n == 0 {
		t.Errorf("commits ended on the loop (HeldSynced calls): got %d; want some", n)
	}
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
	if n := d.counter.memory.Load(); n == 0 {
		t.Errorf("reads answered from memory: got %d; want some (TryServeHTTP never served a GET?)", n)
	} else {
		t.Logf("%d GETs and HEADs were answered from memory", n)
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
			conn, br := dialClient(t, srv.addr)
			if conn == nil {
				return
			}
			defer conn.Close()
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
	checkLoopCommits(t, st)
	for c := range clients {
		for i := range puts {
			resp := srv.do(t, "GET", "/kv/"+key(c, i), "")
			if resp.Status != 200 || string(resp.Body) != value(c, i) {
				t.Fatalf("GET %s: got %d %q; want %d %q", key(c, i), resp.Status, resp.Body, 200, value(c, i))
			}
		}
	}
}

// TestLoopLargeRead: a read answered from memory on the loop whose
// response does not fit the socket's buffer goes on from a goroutine:
// the client gets it whole, and the connection serves on.
func TestLoopLargeRead(t *testing.T) {
	st := &countingStore{Store: openBolt(t)}
	srv := startServerOn(t, st, api.Options{})
	big := strings.Repeat("0123456789abcdef", 1<<16) // 1 MiB
	if resp := srv.do(t, "PUT", "/kv/big", big); resp.Status != 201 {
		t.Fatalf("PUT big: got %d; want 201", resp.Status)
	}
	conn, br := dialClient(t, srv.addr)
	if conn == nil {
		t.FailNow()
	}
	defer conn.Close()
	exchange := func(raw, method string, status int, body string) {
		t.Helper()
		if _, err := io.WriteString(conn, raw); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(br, &http.Request{Method: method})
		if err != nil {
			t.Fatalf("%s: %v", method, err)
		}
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != status || string(got) != body {
			t.Fatalf("%s: got %d, %d bytes, %v; want %d, %d bytes", method, resp.StatusCode, len(got), err, status, len(body))
		}
	}
	before := st.memory.Load()
	exchange(put("/kv/small", "s"), "PUT", 201, "") // the connection joins the loop
	exchange(req("GET", "/kv/big"), "GET", 200, big)
	exchange(req("GET", "/kv/small"), "GET", 200, "s")
	exchange(req("GET", "/kv/big"), "GET", 200, big)
	if got := st.memory.Load() - before; runtime.GOOS == "linux" && got == 0 {
		t.Errorf("reads answered from memory: got %d; want some", got)
	}
}
