package api_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"kvhttp/api"
	"kvhttp/store"
)

func TestRoutes(t *testing.T) {
	srv := startServer(t, t.TempDir())
	tests := []struct {
		method, target string
		status         int
		allow          string
	}{
		{"DELETE", "/", 405, "GET, HEAD, OPTIONS"},
		{"POST", "/", 405, "GET, HEAD, OPTIONS"},
		{"GET", "/create", 405, "POST, OPTIONS"},
		{"PUT", "/create", 405, "POST, OPTIONS"},
		{"POST", "/update", 405, "PUT, OPTIONS"},
		{"GET", "/import", 405, "POST, OPTIONS"},
		{"TRACE", "/", 405, "GET, HEAD, OPTIONS"},
		{"OPTIONS", "/", 204, "GET, HEAD, OPTIONS"},
		{"OPTIONS", "/create", 204, "POST, OPTIONS"},
		{"OPTIONS", "*", 204, "GET, HEAD, POST, PUT, DELETE, OPTIONS"},
		{"GET", "/nothing/here", 404, ""},
		{"GET", "/create/", 404, ""},
		{"GET", "/?ignored=query", 200, ""},
	}
	for _, tc := range tests {
		resp := srv.do(t, tc.method, tc.target, "")
		if resp.Status != tc.status || string(resp.Header.Get("Allow")) != tc.allow {
			t.Errorf("%s %s: got %d Allow %q; want %d Allow %q", tc.method, tc.target,
				resp.Status, resp.Header.Get("Allow"), tc.status, tc.allow)
		}
		if tc.status == 204 && (len(resp.Body) != 0 || resp.Header.Has("Content-Length")) {
			t.Errorf("%s %s: got a 204 with a body or Content-Length", tc.method, tc.target)
		}
	}
}

func TestPairs(t *testing.T) {
	tests := []struct {
		body, status, want string // want: the listing after, or the problem type
	}{
		{"a:b:c", "201", `{"a":"b:c"}`},
		{"empty:", "201", `{"empty":""}`},
		{"nl:v\n", "201", `{"nl":"v"}`},
		{"crlf:v\r\n", "201", `{"crlf":"v"}`},
		{"utf8:한국어 ✓", "201", `{"utf8":"한국어 ✓"}`},
		{"quote:\"\\\t", "201", `{"quote":"\"\\\t"}`},
		{":v", "400", "bad-pair"},
		{"", "400", "bad-pair"},
		{"novalue", "400", "bad-pair"},
		{"two\nlines:v", "400", "bad-pair"},
		{"k:v\n\n", "400", "bad-pair"},
		{"bin:\xff\xfe", "400", "bad-pair"},
		{strings.Repeat("k", 1025) + ":v", "400", "key-too-long"},
	}
	for _, tc := range tests {
		srv := startServer(t, t.TempDir())
		resp := srv.do(t, "POST", "/create", tc.body)
		got := strings.TrimSuffix(string(resp.Body), "\n")
		if fmt.Sprint(resp.Status) != tc.status {
			t.Errorf("%q: got %d %s; want %s", tc.body, resp.Status, got, tc.status)
			continue
		}
		if tc.status == "201" && got != tc.want || tc.status != "201" && !strings.Contains(got, "urn:kvhttp:problem:"+tc.want) {
			t.Errorf("%q: got %s; want %s", tc.body, got, tc.want)
		}
	}
}

func TestTextListing(t *testing.T) {
	srv := startServer(t, t.TempDir())
	srv.do(t, "POST", "/create", "b:2")
	srv.do(t, "POST", "/create", "a:1:x")
	for _, accept := range []string{"text/plain", "text/*", "application/json;q=0.5, text/plain", "text/plain;q=1, */*;q=0.1"} {
		resp := srv.do(t, "GET", "/", "", "Accept", accept)
		if string(resp.Body) != "a:1:x\nb:2\n" || string(resp.Header.Get("Content-Type")) != "text/plain; charset=utf-8" {
			t.Errorf("Accept %q: got %s %q", accept, resp.Header.Get("Content-Type"), resp.Body)
		}
	}
	for _, accept := range []string{"", "*/*", "application/json", "text/html", "text/plain;q=0.5, application/json", "text/plain;q=0"} {
		resp := srv.do(t, "GET", "/", "", "Accept", accept)
		if string(resp.Body) != `{"a":"1:x","b":"2"}`+"\n" || string(resp.Header.Get("Content-Type")) != "application/json" {
			t.Errorf("Accept %q: got %s %q", accept, resp.Header.Get("Content-Type"), resp.Body)
		}
	}
}

func TestImport(t *testing.T) {
	srv := startServer(t, t.TempDir())
	srv.do(t, "POST", "/create", "keep:old")
	resp := srv.do(t, "POST", "/import", "name:kangjuseong\r\n\naddress:seongbukgu\nkeep:new\nname:juseong-kang\n")
	if resp.Status != 200 || string(resp.Body) != `{"imported":4}`+"\n" {
		t.Fatalf("got %d %s; want 200 imported 4", resp.Status, resp.Body)
	}
	list := srv.do(t, "GET", "/", "", "Accept", "text/plain")
	if want := "address:seongbukgu\nkeep:new\nname:juseong-kang\n"; string(list.Body) != want {
		t.Errorf("got %q; want %q", list.Body, want)
	}
	// One bad line: nothing is written, and the line is named.
	resp = srv.do(t, "POST", "/import", "fresh:1\nbroken\nfresh2:2\n")
	if resp.Status != 400 || !strings.Contains(string(resp.Body), "line 2") {
		t.Errorf("got %d %s; want 400 naming line 2", resp.Status, resp.Body)
	}
	if after := srv.do(t, "GET", "/", "", "Accept", "text/plain"); string(after.Body) != string(list.Body) {
		t.Errorf("a refused import changed the data: %q", after.Body)
	}
}

// TestValueLimitOfPairs: the origin's routes and the import hold values
// to --max-value too.
func TestValueLimitOfPairs(t *testing.T) {
	srv := startServerWith(t, t.TempDir(), api.Options{MaxValueBytes: 10})
	long := strings.Repeat("v", 11)
	for _, s := range []step{
		{method: "POST", target: "/create", body: "k:" + long, status: 413, want: "value-too-large"},
		{method: "PUT", target: "/update", body: "k:" + long, status: 413, want: "value-too-large"},
		{method: "POST", target: "/import", body: "i:v\ni:" + long + "\n", status: 413, want: "value-too-large"},
		{method: "POST", target: "/create", body: "k:" + long[1:], status: 201},
		{method: "GET", target: "/kv/i", status: 404},
	} {
		s.run(t, srv)
	}
}

// TestImportMemory: the pairs of an import are held in the budget for
// bodies as well as the body; a body of blank lines costs no pairs.
func TestImportMemory(t *testing.T) {
	srv := startServerWith(t, t.TempDir(), api.Options{MaxBodyMemory: 64 << 10})
	for _, s := range []step{
		// 30 KB of body, but 10,000 pairs of 80 bytes each.
		{method: "POST", target: "/import", body: strings.Repeat("a:\n", 10000), status: 413, want: "body-too-large"},
		{method: "POST", target: "/import", body: strings.Repeat("\n", 60000) + "a:1\n", status: 200, want: `{"imported":1}` + "\n"},
	} {
		s.run(t, srv)
	}
	// A body larger than the whole budget, alone on the server, is too
	// large, not "busy": retrying could not help.
	srv.do(t, "PUT", "/kv/v", strings.Repeat("v", 70<<10)).status(t, 413)
	srv.do(t, "POST", "/create", "k:"+strings.Repeat("v", 70<<10)).status(t, 413)
	// A chunked import over the budget, alone on the server, is too large,
	// not "busy": retrying could not help.
	raw := "POST /import HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n19000\r\n" +
		strings.Repeat("k:v\n", 25<<10) + "\r\n0\r\n\r\n"
	c, err := net.Dial("tcp", srv.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	go c.Write([]byte(raw))
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	got, _ := io.ReadAll(c)
	if s := string(got); !strings.HasPrefix(s, "HTTP/1.1 413 ") || !strings.Contains(s, "body-too-large") {
		t.Errorf("chunked import over the budget: got %q; want 413 body-too-large", firstLine(s))
	}
}

func TestImportTenThousand(t *testing.T) {
	srv := startServer(t, t.TempDir())
	var b strings.Builder
	for i := range 10000 {
		fmt.Fprintf(&b, "key%05d:value %d\n", i, i)
	}
	start := time.Now()
	resp := srv.do(t, "POST", "/import", b.String())
	t.Logf("imported 10,000 lines in %v", time.Since(start))
	if resp.Status != 200 || string(resp.Body) != `{"imported":10000}`+"\n" {
		t.Fatalf("got %d %s", resp.Status, resp.Body)
	}
	n := 0
	srv.store.List(context.Background(), store.ListOptions{}, func(store.Item) error { n++; return nil })
	if n != 10000 {
		t.Errorf("got %d keys; want 10000", n)
	}
}

// TestBadInputLosesNothing: malformed, oversized, truncated and refused
// requests never change what is stored.
func TestBadInputLosesNothing(t *testing.T) {
	srv := startServer(t, t.TempDir())
	srv.do(t, "POST", "/import", "name:kangjuseong\naddress:seongbukgu\n")
	before := srv.do(t, "GET", "/", "", "Accept", "text/plain").Body

	attacks := []string{
		"POST /create HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\nk2:v2\n",
		"POST /create HTTP/1.1\r\nHost: x\r\nContent-Length: 6, 6\r\n\r\nk3:v3\n",
		"POST /create HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nk4:v4X\r\n0\r\n\r\n",
		"POST /create HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nk5:v5",
		"POST /create HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nk6:v6",
		"POST /create HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n\r\nk7:v7",
		"POST /import HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n100000\r\n" + strings.Repeat("k8:v8\n", 180000),
		"POST /import HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nk9:v9\n\r\nZ\r\n",
		"PUT /update HTTP/1.1\r\nHost: x\r\nHost: y\r\nContent-Length: 9\r\n\r\nname:evil",
		"PUT /update HTTP/1.1\r\nHost: x\r\nContent-Length: 9\r\nX: a\x00b\r\n\r\nname:evil",
		"PUT /update HTTP/1.1\r\nContent-Length: 9\r\n\r\nname:evil",
		"POST /create HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 6\r\n\r\n",
	}
	for i, raw := range attacks {
		c, err := net.Dial("tcp", srv.addr)
		if err != nil {
			t.Fatal(err)
		}
		c.Write([]byte(raw))
		if tc, ok := c.(*net.TCPConn); ok {
			tc.CloseWrite() // a client that stops sending mid-request
		}
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		var buf [4096]byte
		n, _ := c.Read(buf[:])
		c.Close()
		if got := string(buf[:n]); strings.HasPrefix(got, "HTTP/1.1 2") && !strings.Contains(got, "100 Continue") {
			t.Errorf("attack %d: got %q; want a refusal", i, firstLine(got))
		}
	}
	if after := srv.do(t, "GET", "/", "", "Accept", "text/plain").Body; string(after) != string(before) {
		t.Errorf("got %q after bad input; want %q", after, before)
	}
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\r\n")
	return line
}
