package client_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"kvhttp/client"
	"kvhttp/internal/nginxtest"
)

// startNginx runs nginx from the system's package on a free loopback port,
// serving dir/www and passing the rest to upstream; it closes idle
// connections after idle. It skips the test when nginx is not installed
// (CI installs it).
func startNginx(t *testing.T, upstream string, idle time.Duration) string {
	t.Helper()
	nginxtest.Binary(t)
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "www"), 0o755)
	os.WriteFile(filepath.Join(dir, "www", "static.txt"), []byte("served by nginx\n"), 0o644)
	addr := nginxtest.FreeAddr(t)
	conf := fmt.Sprintf(`daemon off;
master_process off;
worker_processes 1;
error_log %[1]s/error.log warn;
pid %[1]s/nginx.pid;
events { worker_connections 128; }
http {
	access_log off;
	client_body_temp_path %[1]s/body;
	proxy_temp_path %[1]s/proxy;
	fastcgi_temp_path %[1]s/fastcgi;
	uwsgi_temp_path %[1]s/uwsgi;
	scgi_temp_path %[1]s/scgi;
	keepalive_timeout %[4]dms;
	server {
		listen %[2]s;
		location = /static.txt { root %[1]s/www; }
		location / {
			proxy_pass http://%[3]s;
			proxy_http_version 1.1;
			proxy_buffering off;
		}
	}
}
`, dir, addr, upstream, idle.Milliseconds())
	path := filepath.Join(dir, "nginx.conf")
	os.WriteFile(path, []byte(conf), 0o644)
	nginxtest.Start(t, dir, path, addr)
	return addr
}

func TestAgainstNginx(t *testing.T) {
	upstream := serveKV(t)
	addr := startNginx(t, upstream, time.Minute)
	c := &client.Client{Addr: addr}
	defer c.Close()

	resp, err := c.Do(ctx(t), &client.Request{Method: "GET", Target: "/static.txt"})
	if err != nil || resp.Status != 200 || string(resp.Body) != "served by nginx\n" || !strings.HasPrefix(string(resp.Header.Get("Server")), "nginx") {
		t.Fatalf("static file: got %v, %v", resp, err)
	}
	head, err := c.Do(ctx(t), &client.Request{Method: "HEAD", Target: "/static.txt"})
	if err != nil || head.Status != 200 || len(head.Body) != 0 || string(head.Header.Get("Content-Length")) != "16" {
		t.Fatalf("HEAD: got %v, %v", head, err)
	}
	// nginx answers "Expect: 100-continue" itself before passing the body.
	value := strings.Repeat("v", 200<<10)
	put := &client.Request{Method: "PUT", Target: "/kv/through-nginx", Body: []byte(value)}
	put.Header.Add("Expect", "100-continue")
	if resp, err := c.Do(ctx(t), put); err != nil || resp.Status != 201 {
		t.Fatalf("PUT with 100-continue: got %v, %v", resp, err)
	}
	for i := range 300 {
		if _, err := c.Put(ctx(t), fmt.Sprintf("k%03d", i), []byte(value[:1000]), nil); err != nil {
			t.Fatal(err)
		}
	}
	// A listing over 32 KiB streams from the upstream; nginx passes it on
	// chunked.
	resp, err = c.Do(ctx(t), &client.Request{Method: "GET", Target: "/kv/?prefix=k&limit=300"})
	if err != nil || resp.Status != 200 || string(resp.Header.Get("Transfer-Encoding")) != "chunked" || len(resp.Body) < 300*1000 {
		t.Fatalf("chunked listing: got %d, %q, %d bytes, %v", resp.Status, resp.Header.Get("Transfer-Encoding"), len(resp.Body), err)
	}
	n := 0
	for _, err := range c.List(ctx(t), client.ListOptions{Prefix: "k", PageSize: 64}) {
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != 300 {
		t.Errorf("listed %d keys through nginx; want 300", n)
	}
}

// TestNginxIdleClose: nginx closes idle keep-alive connections silently;
// the client sees the close before it would reuse one, and sends the next
// request, a POST too, on a new connection.
func TestNginxIdleClose(t *testing.T) {
	addr := startNginx(t, serveKV(t), 200*time.Millisecond)
	for _, tc := range []struct{ method, target string }{{"GET", "/static.txt"}, {"POST", "/create"}} {
		c := &client.Client{Addr: addr}
		body := []byte("k" + tc.method + ":v")
		if _, err := c.Do(ctx(t), &client.Request{Method: tc.method, Target: tc.target, Body: body}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(600 * time.Millisecond)
		if _, err := c.Do(ctx(t), &client.Request{Method: tc.method, Target: tc.target, Body: body}); err != nil {
			t.Errorf("%s after nginx closed the connection: got %v; want it sent on a new one", tc.method, err)
		}
		c.Close()
	}
}
