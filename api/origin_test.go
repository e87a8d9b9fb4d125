package api_test

import (
	"strings"
	"testing"

	"kvhttp/wire"
)

// originCases are the nine requests of the origin's client, in order, with
// the outcomes the origin gave (case 1 answered 100, which HTTP forbids as
// a final status: 200 now).
var originCases = []struct {
	method, target, body string
	status               int
	want                 string // the body, or the problem type for errors
}{
	{"HEAD", "/", "", 200, ""},
	{"POST", "/create", "name:kangjuseong", 201, `{"name":"kangjuseong"}` + "\n"},
	{"POST", "/create", "name:juseong-gang", 400, "urn:kvhttp:problem:key-exists"},
	{"POST", "/create", "address:seongbukgu", 201, `{"address":"seongbukgu","name":"kangjuseong"}` + "\n"},
	{"POST", "/create", "test", 400, "urn:kvhttp:problem:bad-pair"},
	{"GET", "/", "", 200, `{"address":"seongbukgu","name":"kangjuseong"}` + "\n"},
	{"PUT", "/update", "name:juseong-kang", 200, `{"address":"seongbukgu","name":"juseong-kang"}` + "\n"},
	{"PUT", "/update", "grade:A", 400, "urn:kvhttp:problem:key-missing"},
	{"POST", "/test", "age:24", 404, "urn:kvhttp:problem:not-found"},
}

// TestOriginCases runs the origin's nine cases over real sockets.
func TestOriginCases(t *testing.T) {
	srv := startServer(t, t.TempDir())
	for i, tc := range originCases {
		resp := srv.do(t, tc.method, tc.target, tc.body)
		if resp.Status != tc.status {
			t.Errorf("case %d, %s %s: got status %d; want %d (body %s)", i+1, tc.method, tc.target, resp.Status, tc.status, resp.Body)
		}
		got := string(resp.Body)
		if tc.status >= 400 {
			if ct := string(resp.Header.Get("Content-Type")); ct != "application/problem+json" ||
				!strings.Contains(got, `"type":"`+tc.want+`"`) {
				t.Errorf("case %d: got %s %s; want a problem of type %s", i+1, ct, got, tc.want)
			}
			continue
		}
		if got != tc.want {
			t.Errorf("case %d, %s %s: got body %q; want %q", i+1, tc.method, tc.target, got, tc.want)
		}
	}
}

// TestHeadMatchesGet: HEAD / has exactly GET /'s fields, and no body.
func TestHeadMatchesGet(t *testing.T) {
	srv := startServer(t, t.TempDir())
	srv.do(t, "POST", "/create", "k:v")
	get, head := srv.do(t, "GET", "/", ""), srv.do(t, "HEAD", "/", "")
	if g, h := fieldsBut(&get.Header, "Date"), fieldsBut(&head.Header, "Date"); g != h {
		t.Errorf("got HEAD fields %q; want GET's %q", h, g)
	}
	if len(head.Body) != 0 {
		t.Errorf("got a HEAD body of %d bytes; want none", len(head.Body))
	}
}

// fieldsBut lists a header's fields, leaving out one name.
func fieldsBut(h *wire.Header, skip string) string {
	var b strings.Builder
	for name, value := range h.All() {
		if !strings.EqualFold(string(name), skip) {
			b.WriteString(string(name) + ": " + string(value) + "\n")
		}
	}
	return b.String()
}

// TestRestart: the data is still there after the server restarts on the
// same folder.
func TestRestart(t *testing.T) {
	dir := t.TempDir()
	first := startServer(t, dir)
	first.do(t, "POST", "/create", "name:kangjuseong")
	first.do(t, "POST", "/create", "address:seongbukgu")
	first.do(t, "PUT", "/update", "name:juseong-kang")
	first.stop()

	second := startServer(t, dir)
	resp := second.do(t, "GET", "/", "", "Accept", "text/plain")
	if want := "address:seongbukgu\nname:juseong-kang\n"; string(resp.Body) != want {
		t.Errorf("after restart: got %q; want %q", resp.Body, want)
	}
}
