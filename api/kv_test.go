package api_test

import (
	"net"
	"strings"
	"testing"
	"time"
)

// step is one request and what must come back.
type step struct {
	method, target, body string
	fields               []string // name, value, ...
	status               int
	want                 string // body, or problem type; "" checks nothing
	wantFields           []string
}

func (s step) run(t *testing.T, srv *running) {
	t.Helper()
	resp := srv.do(t, s.method, s.target, s.body, s.fields...)
	name := s.method + " " + s.target + " " + strings.Join(s.fields, " ")
	if resp.Status != s.status {
		t.Fatalf("%s: got %d %s; want %d", name, resp.Status, resp.Body, s.status)
	}
	if s.want != "" {
		got := string(resp.Body)
		if s.status >= 400 && !strings.Contains(got, `"type":"urn:kvhttp:problem:`+s.want+`"`) ||
			s.status < 400 && got != s.want {
			t.Errorf("%s: got body %q; want %q", name, got, s.want)
		}
	}
	for i := 0; i+1 < len(s.wantFields); i += 2 {
		if got := string(resp.Header.Get(s.wantFields[i])); got != s.wantFields[i+1] {
			t.Errorf("%s: got %s %q; want %q", name, s.wantFields[i], got, s.wantFields[i+1])
		}
	}
}

func TestKeyLifecycle(t *testing.T) {
	srv := startServer(t, t.TempDir())
	ct := "Content-Type"
	for _, s := range []step{
		{method: "GET", target: "/kv/greeting", status: 404, want: "key-not-found"},
		{method: "PUT", target: "/kv/greeting", body: "hello", fields: []string{ct, "text/plain"}, status: 201,
			wantFields: []string{"Location", "/kv/greeting", "ETag", `"1"`}},
		{method: "GET", target: "/kv/greeting", status: 200, want: "hello",
			wantFields: []string{ct, "text/plain", "ETag", `"1"`, "Content-Length", "5"}},
		{method: "HEAD", target: "/kv/greeting", status: 200,
			wantFields: []string{ct, "text/plain", "ETag", `"1"`, "Content-Length", "5"}},
		{method: "PUT", target: "/kv/greeting", body: "\x00binary\xff", status: 204,
			wantFields: []string{"ETag", `"2"`, "Location", ""}},
		{method: "GET", target: "/kv/greeting", status: 200, want: "\x00binary\xff",
			wantFields: []string{ct, "application/octet-stream", "ETag", `"2"`}},
		{method: "GET", target: "/kv/greeting", fields: []string{"If-None-Match", `"2"`}, status: 304, want: "",
			wantFields: []string{"ETag", `"2"`}},
		{method: "GET", target: "/kv/greeting", fields: []string{"If-None-Match", `W/"2"`}, status: 304},
		{method: "GET", target: "/kv/greeting", fields: []string{"If-None-Match", `"1", "2"`}, status: 304},
		{method: "GET", target: "/kv/greeting", fields: []string{"If-None-Match", "*"}, status: 304},
		{method: "GET", target: "/kv/greeting", fields: []string{"If-None-Match", `"1"`}, status: 200},
		{method: "GET", target: "/kv/greeting", fields: []string{"If-None-Match", `2`}, status: 200},
		{method: "GET", target: "/kv/greeting", fields: []string{"If-Match", `"1"`}, status: 412, want: "precondition-failed"},
		{method: "DELETE", target: "/kv/greeting", status: 204},
		{method: "DELETE", target: "/kv/greeting", status: 404, want: "key-not-found"},
		{method: "GET", target: "/kv/greeting", status: 404},
		{method: "PUT", target: "/kv/greeting", body: "back", status: 201, wantFields: []string{"ETag", `"3"`}},
		{method: "PUT", target: "/kv/empty", status: 201},
		{method: "GET", target: "/kv/empty", status: 200, want: "", wantFields: []string{"Content-Length", "0"}},
		{method: "POST", target: "/kv/greeting", status: 405, wantFields: []string{"Allow", "GET, HEAD, PUT, DELETE, OPTIONS"}},
		{method: "OPTIONS", target: "/kv/greeting", status: 204, wantFields: []string{"Allow", "GET, HEAD, PUT, DELETE, OPTIONS"}},
		{method: "GET", target: "/healthz", status: 200, want: `{"status":"ok"}` + "\n"},
		{method: "DELETE", target: "/healthz", status: 405},
	} {
		s.run(t, srv)
	}
}

func TestKeyEncoding(t *testing.T) {
	srv := startServer(t, t.TempDir())
	long := strings.Repeat("k", 1024)
	for _, s := range []step{
		{method: "PUT", target: "/kv/a%2Fb", body: "1", status: 201, wantFields: []string{"Location", "/kv/a%2Fb"}},
		{method: "GET", target: "/kv/a/b", status: 200, want: "1"},
		{method: "PUT", target: "/kv/%E2%9C%93%20ok+", body: "2", status: 201, wantFields: []string{"Location", "/kv/%E2%9C%93%20ok%2B"}},
		{method: "GET", target: "/kv/%e2%9c%93%20ok%2B", status: 200, want: "2"},
		{method: "PUT", target: "/kv/%00%FF", body: "3", status: 201, wantFields: []string{"Location", "/kv/%00%FF"}},
		{method: "GET", target: "/kv/%00%ff", status: 200, want: "3"},
		{method: "GET", target: "/kv/bad%2", status: 400, want: "bad-key"},
		{method: "GET", target: "/kv/bad%zz", status: 400, want: "bad-key"},
		{method: "PUT", target: "/kv/" + long, body: "x", status: 201},
		{method: "PUT", target: "/kv/" + long + "k", body: "x", status: 414, want: "key-too-long"},
		{method: "GET", target: "/kv/" + strings.Repeat("%41", 1025), status: 414, want: "key-too-long"},
		{method: "PUT", target: "/kv/ct", body: "x", fields: []string{"Content-Type", strings.Repeat("t", 256)}, status: 400, want: "bad-content-type"},
		// As path segments "." and ".." would be removed by whoever
		// resolves the Location (RFC 3986 section 5.2.4).
		{method: "PUT", target: "/kv/%2E%2E", body: "4", status: 201, wantFields: []string{"Location", "/kv/%2E%2E"}},
		{method: "PUT", target: "/kv/%2e", body: "5", status: 201, wantFields: []string{"Location", "/kv/%2E"}},
		{method: "PUT", target: "/kv/...", body: "6", status: 201, wantFields: []string{"Location", "/kv/..."}},
		{method: "GET", target: "/kv/%2E%2E", status: 200, want: "4"},
	} {
		s.run(t, srv)
	}
}

// TestValueLimit: a value over the limit gets 413 before its body is read
// when Content-Length tells, and as soon as it passes the limit otherwise;
// either way the connection closes and nothing is stored.
func TestValueLimit(t *testing.T) {
	srv := startServer(t, t.TempDir())
	big := strings.Repeat("v", 1<<20)
	srv.do(t, "PUT", "/kv/fits", big).status(t, 201)
	for _, raw := range []string{
		"PUT /kv/big HTTP/1.1\r\nHost: x\r\nContent-Length: 1048577\r\n\r\n", // no body sent: not read
		"PUT /kv/big HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n100001\r\n" + big + "v\r\n0\r\n\r\n",
	} {
		c, err := net.Dial("tcp", srv.addr)
		if err != nil {
			t.Fatal(err)
		}
		go c.Write([]byte(raw))
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		var got []byte
		buf := make([]byte, 4096)
		for {
			n, err := c.Read(buf)
			got = append(got, buf[:n]...)
			if err != nil {
				break
			}
		}
		c.Close()
		if s := string(got); !strings.HasPrefix(s, "HTTP/1.1 413 ") || !strings.Contains(s, "value-too-large") || !strings.Contains(s, "Connection: close") {
			t.Errorf("got %q; want 413 value-too-large and a closed connection", firstLine(s))
		}
	}
	srv.do(t, "GET", "/kv/big", "").status(t, 404)
}

// TestConditionalWrites covers every precondition of PUT and DELETE against
// an absent key and a present one (at version "1", changed to "2" later).
func TestConditionalWrites(t *testing.T) {
	tests := []struct {
		name    string
		present bool
		method  string
		fields  []string
		status  int
		after   string // the value after the request; "-" absent
	}{
		{"create-only, absent", false, "PUT", []string{"If-None-Match", "*"}, 201, "new"},
		{"create-only, present", true, "PUT", []string{"If-None-Match", "*"}, 412, "old"},
		{"update-only, absent", false, "PUT", []string{"If-Match", "*"}, 412, "-"},
		{"update-only, present", true, "PUT", []string{"If-Match", "*"}, 204, "new"},
		{"cas, current", true, "PUT", []string{"If-Match", `"2"`}, 204, "new"},
		{"cas, stale", true, "PUT", []string{"If-Match", `"1"`}, 412, "old"},
		{"cas, absent", false, "PUT", []string{"If-Match", `"2"`}, 412, "-"},
		{"cas, weak tag never matches", true, "PUT", []string{"If-Match", `W/"2"`}, 412, "old"},
		{"cas, foreign tag", true, "PUT", []string{"If-Match", `"abc"`}, 412, "old"},
		{"cas, tag equal only as a number", true, "PUT", []string{"If-Match", `"02"`}, 412, "old"},
		{"delete cas, tag equal only as a number", true, "DELETE", []string{"If-Match", `"002"`}, 412, "old"},
		{"cas, list holding current", true, "PUT", []string{"If-Match", `"1", "2"`}, 204, "new"},
		{"cas, list of stale", true, "PUT", []string{"If-Match", `"1", "7"`}, 412, "old"},
		{"cas, two fields", true, "PUT", []string{"If-Match", `"1"`, "If-Match", `"2"`}, 204, "new"},
		{"not if current", true, "PUT", []string{"If-None-Match", `"2"`}, 412, "old"},
		{"not if stale", true, "PUT", []string{"If-None-Match", `"1"`}, 204, "new"},
		{"both, holding", true, "PUT", []string{"If-Match", `"2"`, "If-None-Match", `"1"`}, 204, "new"},
		{"both, failing", true, "PUT", []string{"If-Match", `"2"`, "If-None-Match", `"2"`}, 412, "old"},
		{"delete cas, current", true, "DELETE", []string{"If-Match", `"2"`}, 204, "-"},
		{"delete cas, stale", true, "DELETE", []string{"If-Match", `"1"`}, 412, "old"},
		{"delete if present, absent", false, "DELETE", []string{"If-Match", "*"}, 412, "-"},
		{"delete if present, present", true, "DELETE", []string{"If-Match", "*"}, 204, "-"},
		{"delete if absent, present", true, "DELETE", []string{"If-None-Match", "*"}, 412, "old"},
		{"delete if absent, absent", false, "DELETE", []string{"If-None-Match", "*"}, 404, "-"},
		{"delete list", true, "DELETE", []string{"If-Match", `"5", "2"`}, 204, "-"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := startServer(t, t.TempDir())
			srv.do(t, "PUT", "/kv/other", "bump").status(t, 201) // version 1
			if tc.present {
				srv.do(t, "PUT", "/kv/k", "old").status(t, 201) // version 2
			}
			body := ""
			if tc.method == "PUT" {
				body = "new"
			}
			resp := srv.do(t, tc.method, "/kv/k", body, tc.fields...)
			if resp.Status != tc.status {
				t.Fatalf("got %d %s; want %d", resp.Status, resp.Body, tc.status)
			}
			if tc.status == 412 && !strings.Contains(string(resp.Body), "precondition-failed") {
				t.Errorf("got %s; want a precondition-failed problem", resp.Body)
			}
			got := srv.do(t, "GET", "/kv/k", "")
			after := string(got.Body)
			if got.Status == 404 {
				after = "-"
			}
			if after != tc.after {
				t.Errorf("value after: got %q; want %q", after, tc.after)
			}
		})
	}
}

// status checks a response's status.
func (r response) status(t *testing.T, want int) {
	t.Helper()
	if r.Status != want {
		t.Fatalf("got %d %s; want %d", r.Status, r.Body, want)
	}
}
