//go:build crash

package crashtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"kvhttp/client"
)

const (
	// startTimeout bounds how long a server may take to accept and answer
	// its health check.
	startTimeout = 15 * time.Second
	// bindAttempts is how many free ports a start tries: another process
	// may take the port between the probe and the server's bind.
	bindAttempts = 5
	// stopTimeout bounds a graceful stop before the process is killed.
	stopTimeout = 10 * time.Second
)

// errAddrInUse reports a server that could not bind the port it was given.
var errAddrInUse = errors.New("address already in use")

// buildServer builds ./cmd/kvhttp of this module into a temporary folder
// and returns the binary's path.
func buildServer(ctx context.Context, t *testing.T) string {
	t.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("finding the go command: %v", err)
	}
	out, err := exec.CommandContext(ctx, gobin, "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		t.Fatalf("go env GOMOD: got %q; want the path of kvhttp's go.mod", gomod)
	}
	bin := filepath.Join(t.TempDir(), "kvhttp")
	cmd := exec.CommandContext(ctx, gobin, "build", "-o", bin, "./cmd/kvhttp")
	cmd.Dir = filepath.Dir(gomod)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/kvhttp: %v\n%s", err, out)
	}
	return bin
}

// A server is one kvhttp serve process on a loopback port.
type server struct {
	addr   string
	cmd    *exec.Cmd
	stderr bytes.Buffer // read only once exited is closed
	exited chan struct{}
	err    error // from Wait, set before exited is closed
}

// startServer runs bin serve on dir and returns once the server answers
// its health check. It retries on another port when the one it picked
// was taken meanwhile; any other failure to start is returned, with the
// server's log.
func startServer(ctx context.Context, t *testing.T, bin, dir string, extra ...string) (*server, error) {
	t.Helper()
	for attempt := 1; ; attempt++ {
		s, err := launch(ctx, t, bin, dir, extra)
		if err == nil {
			return s, nil
		}
		if !errors.Is(err, errAddrInUse) || attempt == bindAttempts {
			return nil, err
		}
		t.Logf("port taken, trying another: %v", err)
	}
}

// launch starts one server process on a port that was free a moment ago.
func launch(ctx context.Context, t *testing.T, bin, dir string, extra []string) (*server, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	s := &server{addr: addr, exited: make(chan struct{})}
	s.cmd = exec.Command(bin, append([]string{"serve", "--addr", addr, "--data", dir}, extra...)...)
	s.cmd.Stderr = &s.stderr
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	go func() {
		s.err = s.cmd.Wait()
		close(s.exited)
	}()
	t.Cleanup(s.kill)
	if err := s.waitReady(ctx); err != nil {
		s.kill()
		return nil, err
	}
	return s, nil
}

// freeAddr returns a loopback address whose port was free when asked.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("finding a free port: %w", err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		return "", fmt.Errorf("finding a free port: %w", err)
	}
	return addr, nil
}

// waitReady waits until the server accepts connections and answers its
// health check, or fails if it exits first or takes too long.
func (s *server) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	c := &client.Client{Addr: s.addr, MaxIdleConns: 1}
	defer c.Close()
	for {
		select {
		case <-s.exited:
			log := s.stderr.String()
			if strings.Contains(log, "address already in use") {
				return fmt.Errorf("server on %s: %w", s.addr, errAddrInUse)
			}
			return fmt.Errorf("server on %s refused to start (%v); its log:\n%s", s.addr, s.err, log)
		case <-ctx.Done():
			return fmt.Errorf("server on %s not answering after %v: %w", s.addr, startTimeout, ctx.Err())
		default:
		}
		if conn, err := net.DialTimeout("tcp", s.addr, 200*time.Millisecond); err == nil {
			conn.Close()
			hctx, hcancel := context.WithTimeout(ctx, time.Second)
			err = c.Health(hctx)
			hcancel()
			if err == nil {
				return nil
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// kill sends SIGKILL unless the process has exited, and waits for it to
// exit. It may be called more than once.
func (s *server) kill() {
	select {
	case <-s.exited:
		return
	default:
	}
	// An error means the process has already gone; Wait reports it.
	_ = s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.exited
}

// stop asks the server to shut down with SIGTERM and waits for it to exit
// cleanly, killing it if it does not within stopTimeout.
func (s *server) stop() error {
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return fmt.Errorf("stopping the server on %s: %w", s.addr, err)
	}
	select {
	case <-s.exited:
	case <-time.After(stopTimeout):
		s.kill()
		return fmt.Errorf("server on %s still running %v after SIGTERM; killed", s.addr, stopTimeout)
	}
	if s.err != nil {
		return fmt.Errorf("server on %s exited with %w; its log:\n%s", s.addr, s.err, s.stderr.String())
	}
	return nil
}
