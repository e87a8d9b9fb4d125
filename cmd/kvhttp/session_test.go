package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestSession runs the key commands, raw and replay in order against one
// server and compares the whole transcript (stdout, stderr and exit status
// of each) with testdata/session.golden.
func TestSession(t *testing.T) {
	addr := startAPI(t)
	file := filepath.Join(t.TempDir(), "value.txt")
	os.WriteFile(file, []byte("from a file\n"), 0o644)
	replay, _ := filepath.Abs("../../examples/origin.replay")
	steps := []struct {
		stdin string
		args  []string
	}{
		{"", []string{"get", "missing"}},
		{"", []string{"put", "greeting", "hello"}},
		{"", []string{"put", "greeting", "@" + file, "--content-type", "text/plain"}},
		{"", []string{"get", "greeting"}},
		{"", []string{"get", "greeting", "--json"}},
		{"", []string{"head", "greeting"}},
		{"", []string{"head", "greeting", "--json"}},
		{"", []string{"head", "missing"}},
		{"", []string{"create", "greeting", "again"}},
		{"from stdin", []string{"create", "fresh", "-"}},
		{"", []string{"update", "missing", "x"}},
		{"", []string{"update", "fresh", "updated"}},
		{"", []string{"put", "fresh", "stale", "--if-match", `"3"`}},
		{"", []string{"put", "fresh", "swapped", "--if-match", `"4"`, "--json"}},
		{"", []string{"put", "fresh", "created?", "--if-none-match", "*"}},
		{"\x00\xff binary", []string{"put", "bin/ary", "-"}},
		{"", []string{"list"}},
		{"", []string{"list", "--keys"}},
		{"", []string{"list", "--json", "--prefix", "b"}},
		{"", []string{"list", "--limit", "2", "--page-size", "1"}},
		{"", []string{"delete", "fresh", "--if-match", `"4"`}},
		{"", []string{"delete", "fresh"}},
		{"", []string{"delete", "fresh"}},
		{"", []string{"get"}},
		{"", []string{"put", "k"}},
		{"", []string{"get", ""}},
		{"", []string{"delete", ""}},
		{"", []string{"raw", "GET", "/kv/greeting"}},
		{"", []string{"raw", "POST", "/create", "rawkey:raw", "-H", "Accept: text/plain"}},
		{"", []string{"raw", "GET", "/", "-H", "no colon"}},
		{"", []string{"replay", replay}},
		{"", []string{"replay", replay}},
		{"", []string{"get", "x", "--addr", "127.0.0.1:1"}},
	}
	var transcript strings.Builder
	for _, s := range steps {
		args := s.args
		if !slices.Contains(args, "--addr") {
			args = append(args, "--addr", addr)
		}
		code, out, errOut := kvhttp(t, s.stdin, args...)
		shown := strings.Join(s.args, " ")
		shown = strings.ReplaceAll(shown, file, "value.txt")
		shown = strings.ReplaceAll(shown, replay, "examples/origin.replay")
		fmt.Fprintf(&transcript, "$ kvhttp %s\nexit %d\n--- stdout\n%s--- stderr\n%s\n", shown, code, withNewline(out), errOut)
	}
	golden(t, "session.golden", transcript.String())
}

func TestBenchSmoke(t *testing.T) {
	addr := startAPI(t)
	code, out, errOut := kvhttp(t, "", "bench", "-n", "2000", "-c", "4", "-t", "get,put", "--keys", "100", "--pipeline", "4", "--addr", addr)
	if code != exitOK || errOut != "" {
		t.Fatalf("got exit %d, stderr %q", code, errOut)
	}
	want := regexp.MustCompile(`^GET /kv/\{key\}: 2000 requests, 4 connections, pipeline 4, 100 keys, 64-byte values
  [0-9.]+ s, [0-9]+ requests/s, 0 errors
  latency ms: p50 [0-9.]+  p90 [0-9.]+  p99 [0-9.]+  p99.9 [0-9.]+  max [0-9.]+
PUT /kv/\{key\}: 2000 requests, .*
.*
.*
$`)
	if !want.MatchString(out) {
		t.Errorf("got:\n%s", out)
	}
	for _, bad := range [][]string{{"bench", "-n", "5", "-d", "1s"}, {"bench", "-t", "delete"}} {
		if code, _, _ := kvhttp(t, "", append(bad, "--addr", addr)...); code != exitUsage {
			t.Errorf("%v: got exit %d; want %d", bad, code, exitUsage)
		}
	}
	l := freePort(t)
	if code, _, errOut := kvhttp(t, "", "bench", "-n", "10", "-t", "put", "--addr", l); code != exitConn {
		t.Errorf("no server: got exit %d %q; want %d", code, errOut, exitConn)
	}
}

// TestAddrFromEnvironment: KVHTTP_ADDR names the server when --addr does
// not.
func TestAddrFromEnvironment(t *testing.T) {
	t.Setenv("KVHTTP_ADDR", startAPI(t))
	if code, out, errOut := kvhttp(t, "", "put", "env", "works"); code != exitOK {
		t.Fatalf("got %d %q %q", code, out, errOut)
	}
	if code, out, _ := kvhttp(t, "", "get", "env"); code != exitOK || out != "works" {
		t.Errorf("got %d %q; want works", code, out)
	}
}

// TestHelpAndCompletion: every command has --help; shell completion works.
func TestHelpAndCompletion(t *testing.T) {
	for _, c := range newRoot().Commands() {
		code, out, errOut := kvhttp(t, "", c.Name(), "--help")
		if code != exitOK || !strings.Contains(out, "Usage:") || errOut != "" {
			t.Errorf("%s --help: got exit %d, %q", c.Name(), code, errOut)
		}
	}
	for _, shell := range []string{"bash", "zsh", "fish"} {
		code, out, _ := kvhttp(t, "", "completion", shell)
		if code != exitOK || !strings.Contains(out, "kvhttp") {
			t.Errorf("completion %s: got exit %d", shell, code)
		}
	}
}
