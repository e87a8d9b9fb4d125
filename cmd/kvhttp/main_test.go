package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"kvhttp/api"
	"kvhttp/client"
	"kvhttp/internal/loopback"
	"kvhttp/server"
	"kvhttp/store/boltstore"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// startAPI serves the API over a store in a temporary folder and returns
// its address.
func startAPI(t *testing.T) string {
	t.Helper()
	st, err := boltstore.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &server.Server{Handler: api.New(st, api.Options{})}
	go srv.Serve(l)
	t.Cleanup(func() {
		srv.Close()
		st.Close()
	})
	return l.Addr().String()
}

// kvhttp runs the command line and returns its exit status and output.
func kvhttp(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(context.Background(), args, strings.NewReader(stdin), &out, &errOut)
	return code, out.String(), errOut.String()
}

var (
	dateLine = regexp.MustCompile(`Date: [A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT`)
	hostLine = regexp.MustCompile(`Host: 127\.0\.0\.1:\d+`)
)

// golden compares got, with dates and ports masked, to testdata/name.
func golden(t *testing.T, name, got string) {
	t.Helper()
	got = hostLine.ReplaceAllString(dateLine.ReplaceAllString(got, "Date: <date>"), "Host: <addr>")
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (rerun with -update to accept):\n%s", path, got)
	}
}

func TestDemo(t *testing.T) {
	addr := startAPI(t)
	code, out, errOut := kvhttp(t, "", "demo", "--addr", addr)
	if code != exitOK || errOut != "" {
		t.Fatalf("got exit %d, stderr %q; want 0, nothing", code, errOut)
	}
	golden(t, "demo.golden", out)

	// Again: the store is no longer empty, so cases 2 and 4 differ.
	code, _, errOut = kvhttp(t, "", "demo", "--addr", addr)
	if code != exitFailure || !strings.Contains(errOut, "2 of 9 cases") {
		t.Errorf("second run: got exit %d, stderr %q; want 1 and 2 of 9 cases", code, errOut)
	}
}

func TestImportExport(t *testing.T) {
	addr := startAPI(t)
	file := filepath.Join(t.TempDir(), "DB.txt")
	os.WriteFile(file, []byte("name:kangjuseong\naddress:seongbukgu\n"), 0o644)
	tests := []struct {
		name, stdin string
		args        []string
		code        int
		stdout      string
		stderr      string
	}{
		{"import file", "", []string{"import", file}, 0, `{"imported":2}` + "\n", ""},
		{"import stdin", "grade:A\n", []string{"import", "-"}, 0, `{"imported":1}` + "\n", ""},
		{"export", "", []string{"export"}, 0, "address:seongbukgu\ngrade:A\nname:kangjuseong\n", ""},
		{"import refused", "ok:1\nbroken\n", []string{"import", "-"}, 1, "",
			"kvhttp: POST /import: 400 line 2: body must be key:value: no colon in \"broken\"\n"},
		{"import missing file", "", []string{"import", "/nonexistent/DB.txt"}, 1, "",
			"kvhttp: open /nonexistent/DB.txt: no such file or directory\n"},
		{"import without file", "", []string{"import"}, 2, "", "kvhttp: import takes 1 argument(s), got 0\n"},
		{"unknown flag", "", []string{"export", "--nope"}, 2, "", "kvhttp: unknown flag: --nope\n"},
		{"unknown command", "", []string{"frobnicate"}, 2, "", "kvhttp: unknown command \"frobnicate\" for \"kvhttp\"\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := kvhttp(t, tc.stdin, append(tc.args, "--addr", addr)...)
			if code != tc.code || out != tc.stdout || errOut != tc.stderr {
				t.Errorf("got %d %q %q; want %d %q %q", code, out, errOut, tc.code, tc.stdout, tc.stderr)
			}
		})
	}
}

// TestExportLarge: an export larger than one piece of the server's
// streamed listing (about 32 KiB) comes whole and in order.
func TestExportLarge(t *testing.T) {
	addr := startAPI(t)
	var want strings.Builder
	for i := range 20000 {
		fmt.Fprintf(&want, "key%05d:value %d\n", i, i)
	}
	if code, _, errOut := kvhttp(t, want.String(), "import", "-", "--addr", addr); code != 0 {
		t.Fatalf("import: exit %d, %s", code, errOut)
	}
	code, out, errOut := kvhttp(t, "", "export", "--addr", addr)
	if code != 0 || out != want.String() {
		t.Errorf("export: got exit %d, %d bytes (%s); want 0, the %d bytes imported", code, len(out), errOut, want.Len())
	}
}

// TestExportRefuses: a pair that key:value lines cannot carry stops the
// export, exit status 1, rather than be written as another pair; what
// came before it is printed.
func TestExportRefuses(t *testing.T) {
	tests := []struct{ key, value, why string }{
		{"b:c", "v", "its key holds a colon"},
		{"b", "x\nz:injected", "it holds a line break"},
		{"b", "x\r", "it holds a line break"},
		{"b", "\xff", "it holds bytes that are not UTF-8"},
	}
	for _, tc := range tests {
		t.Run(tc.why, func(t *testing.T) {
			addr := startAPI(t)
			c := &client.Client{Addr: addr}
			defer c.Close()
			for _, kv := range [][2]string{{"a", "first"}, {tc.key, tc.value}, {"c", "last"}} {
				if _, err := c.Put(context.Background(), kv[0], []byte(kv[1]), nil); err != nil {
					t.Fatal(err)
				}
			}
			code, out, errOut := kvhttp(t, "", "export", "--addr", addr)
			wantErr := fmt.Sprintf("kvhttp: export stopped at key %q: %s, which key:value lines cannot carry\n", tc.key, tc.why)
			if code != exitFailure || out != "a:first\n" || errOut != wantErr {
				t.Errorf("got %d %q %q; want %d %q %q", code, out, errOut, exitFailure, "a:first\n", wantErr)
			}
		})
	}
}

// TestStalledServer: a server that takes the request and never answers
// fails every command that talks to it, after requestTimeout.
func TestStalledServer(t *testing.T) {
	defer func(d time.Duration) { requestTimeout = d }(requestTimeout)
	requestTimeout = 200 * time.Millisecond
	addr := loopback.Silent(t)
	for _, args := range [][]string{{"get", "k"}, {"list"}, {"export"}} {
		start := time.Now()
		code, _, errOut := kvhttp(t, "", append(args, "--addr", addr)...)
		if code != exitConn || time.Since(start) > 5*time.Second {
			t.Errorf("%v: got exit %d (%s) after %v; want %d within the timeout", args, code, errOut, time.Since(start), exitConn)
		}
	}
}

// TestFlagMistakes: flags that contradict each other, or that the chosen
// backend would ignore, or zeros that would silently mean a default, are
// usage errors, refused before anything starts.
func TestFlagMistakes(t *testing.T) {
	long := filepath.Join(t.TempDir(), "long.replay")
	os.WriteFile(long, []byte("200 GET /\n200 POST /create "+strings.Repeat("x", 70<<10)+"\n"), 0o644)
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"serve", "--data", t.TempDir(), "--max-body", "1000"}, exitUsage, "--max-body 1000 is below --max-value"},
		{[]string{"serve", "--data", t.TempDir(), "--max-body-memory", "65536"}, exitUsage, "--max-body-memory 65536 is not above --max-value"},
		{[]string{"serve", "--store", "redis", "--data", t.TempDir()}, exitUsage, "--data does not apply to --store redis"},
		{[]string{"serve", "--data", t.TempDir(), "--redis-addrs", "127.0.0.1:1"}, exitUsage, "--redis-addrs does not apply to --store bolt"},
		{[]string{"serve", "--store", "redis", "--checkpoint-every", "1s"}, exitUsage, "--checkpoint-every does not apply to --store redis"},
		{[]string{"serve", "--store", "redis", "--redis-wait-replicas", "-1"}, exitUsage, "--redis-wait-replicas -1: want 0 or more"},
		{[]string{"bench", "-c", "0"}, exitUsage, "--connections 0: want a positive number"},
		{[]string{"bench", "--size", "-1"}, exitUsage, "--size -1: want a positive number"},
		{[]string{"replay", long}, exitFailure, long + ":2: bufio.Scanner: token too long"},
	}
	for _, tc := range tests {
		code, _, errOut := kvhttp(t, "", append(tc.args, "--addr", freePort(t))...)
		if code != tc.code || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: got %d %q; want %d and %q", tc.args, code, errOut, tc.code, tc.want)
		}
	}
}

// freePort returns a loopback address nothing listens on.
func freePort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func TestNoServer(t *testing.T) {
	addr := freePort(t)
	code, _, errOut := kvhttp(t, "", "export", "--addr", addr)
	if code != exitConn || !strings.Contains(errOut, "connection refused") {
		t.Errorf("got %d %q; want 3 and connection refused", code, errOut)
	}
}

// TestServeStops runs serve in-process until its context ends, as a
// signal would end it, and finds the data on disk afterwards.
func TestServeStops(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	stderr := &syncBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--addr", "127.0.0.1:0", "--data", dir}, nil, io.Discard, stderr)
	}()
	addr := waitServing(t, stderr)
	if code, out, _ := kvhttp(t, "k:v\n", "import", "-", "--addr", addr); code != 0 {
		t.Fatalf("import: exit %d %s", code, out)
	}
	cancel()
	if code := <-done; code != exitOK {
		t.Fatalf("serve: got exit %d; want 0 (stderr %s)", code, stderr.String())
	}
	if !strings.Contains(stderr.String(), "msg=stopped") {
		t.Errorf("stderr %q; want a clean stop", stderr.String())
	}
	st, err := boltstore.Open(dir, nil)
	if err != nil {
		t.Fatalf("reopening: %v", err)
	}
	defer st.Close()
	if it, err := st.Get(context.Background(), []byte("k"), nil); err != nil || string(it.Value) != "v" {
		t.Errorf("after serve stopped: got %q, %v; want v", it.Value, err)
	}
}

func TestServeRefusesLockedData(t *testing.T) {
	dir := t.TempDir()
	st, err := boltstore.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	code, _, errOut := kvhttp(t, "", "serve", "--addr", "127.0.0.1:0", "--data", dir)
	if code != exitFailure || !strings.Contains(errOut, "locked") {
		t.Errorf("got %d %q; want 1 and a message about the lock", code, errOut)
	}
}

var servingAddr = regexp.MustCompile(`msg=serving addr=(\S+)`)

// waitServing waits for serve's log line and returns the address.
func waitServing(t *testing.T, stderr interface{ String() string }) string {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if m := servingAddr.FindStringSubmatch(stderr.String()); m != nil {
			return m[1]
		}
	}
	t.Fatalf("serve did not start: %s", stderr.String())
	return ""
}
