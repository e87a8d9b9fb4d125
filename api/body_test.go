package api_test

import (
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"kvhttp/api"
)

// upload starts a PUT declaring length bytes and sends the first sent of
// them, then stalls.
func upload(t *testing.T, addr, key string, length, sent int) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.Write([]byte("PUT /kv/" + key + " HTTP/1.1\r\nHost: x\r\nContent-Length: " + itoa(length) + "\r\n\r\n" + strings.Repeat("s", sent)))
	return c
}

func itoa(n int) string { return strconv.Itoa(n) }

// TestBodyBudget: request bodies held in memory share one budget, counted
// by what is held, not by what is declared. Past it, a request waits a
// moment, then gets 503 with Retry-After, its body unread; once memory is
// free again, requests go through.
func TestBodyBudget(t *testing.T) {
	srv := startServerWith(t, t.TempDir(), api.Options{MaxBodyMemory: 300 << 10})

	// Ten uploads that declare 200 KiB and send one byte hold 4 KiB each.
	var stalled []net.Conn
	for i := range 10 {
		stalled = append(stalled, upload(t, srv.addr, "stalled"+itoa(i), 200<<10, 1))
	}
	time.Sleep(100 * time.Millisecond)
	if r := srv.do(t, "PUT", "/kv/fits", strings.Repeat("f", 100<<10)); r.Status != 201 {
		t.Fatalf("beside uploads that declare much and send little: got %d %s; want 201", r.Status, r.Body)
	}
	for _, c := range stalled {
		c.Close() // their handlers give their memory back
	}
	time.Sleep(200 * time.Millisecond)

	// An upload that has sent 200 KiB holds a 256 KiB buffer: most of the
	// 300 KiB.
	big := upload(t, srv.addr, "big", 300<<10, 200<<10)
	time.Sleep(200 * time.Millisecond)
	busy := srv.do(t, "PUT", "/kv/next", strings.Repeat("n", 100<<10))
	if busy.Status != 503 || string(busy.Header.Get("Retry-After")) != "1" || !strings.Contains(string(busy.Body), "urn:kvhttp:problem:busy") {
		t.Fatalf("over the budget: got %d %s (Retry-After %q); want 503 busy", busy.Status, busy.Body, busy.Header.Get("Retry-After"))
	}

	big.Write([]byte(strings.Repeat("s", 100<<10)))
	big.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 64)
	n, _ := big.Read(buf)
	if !strings.HasPrefix(string(buf[:n]), "HTTP/1.1 201 ") {
		t.Fatalf("the big upload: got %q; want 201", buf[:n])
	}
	if again := srv.do(t, "PUT", "/kv/next", strings.Repeat("n", 100<<10)); again.Status != 201 {
		t.Errorf("after the budget was freed: got %d %s; want 201", again.Status, again.Body)
	}
	if r := srv.do(t, "POST", "/import", strings.Repeat("k:v\n", 10)); r.Status != 200 {
		t.Errorf("import: got %d %s", r.Status, r.Body)
	}
}
