// Package redistest runs redis-server processes for tests: single servers
// and a Redis Cluster of three masters with a replica each, on free
// loopback ports, in temporary folders, with persistence off.
//
// StartServer and StartCluster tie what they start to a test and stop it
// when the test ends; NewServer and NewCluster leave stopping to the
// caller, for a cluster shared by the tests of a binary (stopped in
// TestMain). On Linux every process started here is killed when the test
// binary dies, even without its cleanup running.
//
// The binaries come from the system (Debian: redis-server and
// redis-tools); Skip skips a test when they are missing.
package redistest

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Missing returns an error naming the first binary a test needs that is
// not on PATH: redis-server, and for a cluster redis-cli too; nil if
// both are there.
func Missing(cluster bool) error {
	bins := []string{"redis-server"}
	if cluster {
		bins = append(bins, "redis-cli")
	}
	for _, bin := range bins {
		if _, err := exec.LookPath(bin); err != nil {
			return fmt.Errorf("%s is not on PATH (Debian: apt-get install redis-server redis-tools): %w", bin, err)
		}
	}
	return nil
}

// Skip skips t when redis-server (and, for a cluster, redis-cli) is not
// installed, saying which one is missing and how to install it.
func Skip(t testing.TB, cluster bool) {
	t.Helper()
	if err := Missing(cluster); err != nil {
		t.Skip(err)
	}
}

// Ports are drawn from [portLow, portHigh) so that a cluster node's bus
// port, port+10000, stays below 55535.
const (
	portLow  = 20000
	portHigh = 45000
)

var (
	portMu    sync.Mutex
	portsUsed = make(map[int]bool)
)

// FreePort returns a loopback port that is free, and whose cluster bus
// port (port+10000) is free too, at the time of asking. It never returns
// the same port twice in a process.
func FreePort() (int, error) {
	portMu.Lock()
	defer portMu.Unlock()
	for range 200 {
		p := portLow + rand.IntN(portHigh-portLow)
		if portsUsed[p] || portsUsed[p+10000] || !portFree(p) || !portFree(p+10000) {
			continue
		}
		portsUsed[p] = true
		return p, nil
	}
	return 0, errors.New("redistest: no free loopback port pair found")
}

func portFree(p int) bool {
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// Server is one redis-server process.
type Server struct {
	Addr string // 127.0.0.1:port
	Dir  string // its working folder, with redis.log

	args []string // the command line, for Restart
	cmd  *exec.Cmd
}

// StartServer starts a redis-server for t with extra command-line
// arguments (such as "--replicaof", "127.0.0.1 PORT") and returns its
// address; the server is killed when t ends. It skips t when redis-server
// is missing and fails t when the server does not start.
func StartServer(t testing.TB, args ...string) string {
	t.Helper()
	Skip(t, false)
	s, err := NewServer(t.TempDir(), args...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s.Addr
}

// NewServer starts redis-server in dir (created if missing) on a free
// port, with extra arguments, and waits until it answers PING. The caller
// stops it.
func NewServer(dir string, extra ...string) (*Server, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("redistest: %w", err)
	}
	var lastErr error
	for range 3 { // another process may take the port first
		port, err := FreePort()
		if err != nil {
			return nil, err
		}
		args := append([]string{
			"--port", strconv.Itoa(port), "--bind", "127.0.0.1",
			"--save", "", "--appendonly", "no", "--dir", dir,
			"--logfile", filepath.Join(dir, "redis.log"),
			// Replicas sync at once, not after the default 5 s delay.
			"--repl-diskless-sync-delay", "0",
		}, extra...)
		s := &Server{Addr: "127.0.0.1:" + strconv.Itoa(port), Dir: dir, args: args}
		if lastErr = s.start(); lastErr == nil {
			return s, nil
		}
		s.Stop()
	}
	return nil, lastErr
}

// start runs the process and waits until it answers PING.
func (s *Server) start() error {
	cmd := exec.Command("redis-server", s.args...)
	cmd.SysProcAttr = procAttr()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("redistest: %w", err)
	}
	s.cmd = cmd
	return s.waitReady(10 * time.Second)
}

// waitReady waits until the server answers PING.
func (s *Server) waitReady(timeout time.Duration) error {
	var err error
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		var reply string
		if reply, err = s.Command("PING"); err == nil && reply == "+PONG" {
			return nil
		}
		if s.cmd.ProcessState != nil {
			break
		}
	}
	return fmt.Errorf("redistest: redis-server on %s did not start: %w; log: %s", s.Addr, err, s.LogTail())
}

// Running reports whether the process was started and has not been
// stopped or killed.
func (s *Server) Running() bool { return s.cmd != nil && s.cmd.ProcessState == nil }

// Restart starts the server again, on the same port, folder and
// arguments, after Kill or Stop; a cluster node so finds its nodes.conf
// and rejoins its cluster. It waits until the server answers PING.
func (s *Server) Restart() error {
	if s.Running() {
		return fmt.Errorf("redistest: %s is running", s.Addr)
	}
	return s.start()
}

// Kill sends SIGKILL and waits for the process to exit: a crash, as far
// as the server's peers can tell.
func (s *Server) Kill() error {
	if !s.Running() {
		return fmt.Errorf("redistest: %s is not running", s.Addr)
	}
	if err := s.cmd.Process.Kill(); err != nil {
		return fmt.Errorf("redistest: killing %s: %w", s.Addr, err)
	}
	s.cmd.Wait() // the error only says it was killed
	return nil
}

// Stop kills the server, if it runs, and waits for it to exit.
func (s *Server) Stop() {
	if s.Running() {
		s.cmd.Process.Kill()
		s.cmd.Wait()
	}
}

// Command sends one inline command and returns the first line of the
// reply, which is enough for PING and status replies.
func (s *Server) Command(args ...string) (string, error) {
	c, r, err := s.send(args)
	if err != nil {
		return "", err
	}
	defer c.Close()
	line, err := r.ReadString('\n')
	if err != nil {
		return "", fmt.Errorf("redistest: %s on %s: %w", args[0], s.Addr, err)
	}
	return strings.TrimRight(line, "\r\n"), nil
}

// Info returns the text of a bulk-string reply, such as that of INFO
// replication or CLUSTER INFO.
func (s *Server) Info(args ...string) (string, error) {
	c, r, err := s.send(args)
	if err != nil {
		return "", err
	}
	defer c.Close()
	head, err := r.ReadString('\n')
	if err != nil {
		return "", fmt.Errorf("redistest: %s on %s: %w", args[0], s.Addr, err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(head, "$")))
	if err != nil || !strings.HasPrefix(head, "$") {
		return "", fmt.Errorf("redistest: %s on %s: unexpected reply %q", args[0], s.Addr, head)
	}
	buf := make([]byte, n+2)
	if _, err := io.ReadFull(r, buf); err != nil {
		return "", fmt.Errorf("redistest: %s on %s: %w", args[0], s.Addr, err)
	}
	return string(buf[:n]), nil
}

// send opens a connection and writes args as an inline command.
func (s *Server) send(args []string) (net.Conn, *bufio.Reader, error) {
	c, err := net.DialTimeout("tcp", s.Addr, time.Second)
	if err != nil {
		return nil, nil, fmt.Errorf("redistest: %w", err)
	}
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := fmt.Fprintf(c, "%s\r\n", strings.Join(args, " ")); err != nil {
		c.Close()
		return nil, nil, fmt.Errorf("redistest: %w", err)
	}
	return c, bufio.NewReader(c), nil
}

// LogTail returns the end of the server's log, for error messages.
func (s *Server) LogTail() string {
	b, _ := os.ReadFile(filepath.Join(s.Dir, "redis.log"))
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}
