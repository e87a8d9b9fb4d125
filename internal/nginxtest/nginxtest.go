// Package nginxtest runs nginx from the system's package for tests: the
// client is tested against it, and the front-end tests put it in front of
// two kvhttp servers.
package nginxtest

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// Binary returns the path of nginx, skipping t when it is not installed
// (CI installs it).
func Binary(t testing.TB) string {
	t.Helper()
	if bin, err := exec.LookPath("nginx"); err == nil {
		return bin
	}
	if _, err := os.Stat("/usr/sbin/nginx"); err != nil {
		t.Skip("nginx is not installed (Debian package nginx-light); .ci/run installs it")
	}
	return "/usr/sbin/nginx"
}

// FreeAddr returns a loopback address with a port nothing listens on.
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// Start checks the configuration file conf with nginx -t, then runs nginx
// in the foreground with prefix dir (its error log dir/error.log) and
// returns once addr, where conf listens, accepts connections. nginx is
// stopped when t ends; extra arguments (such as -g "daemon off;") follow
// the others.
func Start(t testing.TB, dir, conf, addr string, extra ...string) {
	t.Helper()
	bin := Binary(t)
	errorLog := filepath.Join(dir, "error.log")
	args := append([]string{"-p", dir, "-e", errorLog, "-c", conf}, extra...)
	if out, err := exec.Command(bin, append(args, "-t")...).CombinedOutput(); err != nil {
		t.Fatalf("nginx -t: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, args...)
	cmd.SysProcAttr = procAttr()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM) // a master stops its workers
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	})
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(errorLog)
			t.Fatalf("nginx did not start:\n%s", log)
		}
	}
}
