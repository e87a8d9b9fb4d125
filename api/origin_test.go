package api_test

import (
	"strings"
	"testing"

	"kvhttp/api/apitest"
	"kvhttp/wire"
)

// TestOriginCases runs the origin's nine cases over real sockets.
func TestOriginCases(t *testing.T) {
	srv := startServer(t, t.TempDir())
	for i, tc := range apitest.OriginCases {
		resp := srv.do(t, tc.Method, tc.Target, tc.Body)
		if resp.Status != tc.Status {
			t.Errorf("case %d, %s %s: got status %d; want %d (body %s)", i+1, tc.Method, tc.Target, resp.Status, tc.Status, resp.Body)
		}
		got := string(resp.Body)
		if tc.Status >= 400 {
			if ct := string(resp.Header.Get("Content-Type")); ct != "application/problem+json" ||
				!strings.Contains(got, `"type":"`+tc.Want+`"`) {
				t.Errorf("case %d: got %s %s; want a problem of type %s", i+1, ct, got, tc.Want)
			}
			continue
		}
		if got != tc.Want {
			t.Errorf("case %d, %s %s: got body %q; want %q", i+1, tc.Method, tc.Target, got, tc.Want)
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
