package redisstore

import (
	"bufio"
	"context"
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

// Tests run their own redis-server processes on loopback ports, in
// temporary folders, with persistence off. A single server belongs to the
// test that started it; the cluster (three masters, three replicas) is
// started once per test binary, by the first test that needs it, and
// stopped by TestMain.

func TestMain(m *testing.M) {
	code := m.Run()
	stopCluster()
	os.Exit(code)
}

// needServer skips the test when redis-server (and, for a cluster,
// redis-cli) is not on PATH.
func needServer(t *testing.T, cluster bool) {
	t.Helper()
	bins := []string{"redis-server"}
	if cluster {
		bins = append(bins, "redis-cli")
	}
	for _, bin := range bins {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("%s is not on PATH (Debian: apt-get install redis-server redis-tools)", bin)
		}
	}
}

// server is one redis-server process.
type server struct {
	addr string
	dir  string
	cmd  *exec.Cmd
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

// freePort returns a loopback port that is free, and whose bus port
// (port+10000) is free too, at the time of asking.
func freePort() (int, error) {
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
	return 0, errors.New("no free loopback port pair found")
}

func portFree(p int) bool {
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// startServer starts redis-server in dir (created if missing) on a free
// port, with extra arguments, and waits until it answers PING.
func startServer(dir string, extra ...string) (*server, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	var lastErr error
	for range 3 { // another process may take the port first
		port, err := freePort()
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
		cmd := exec.Command("redis-server", args...)
		cmd.SysProcAttr = procAttr()
		if err := cmd.Start(); err != nil {
			return nil, err
		}
		s := &server{addr: "127.0.0.1:" + strconv.Itoa(port), dir: dir, cmd: cmd}
		if lastErr = s.waitReady(10 * time.Second); lastErr == nil {
			return s, nil
		}
		s.stop()
	}
	return nil, lastErr
}

// waitReady waits until the server answers PING.
func (s *server) waitReady(timeout time.Duration) error {
	var err error
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		var reply string
		if reply, err = s.command("PING"); err == nil && reply == "+PONG" {
			return nil
		}
		if s.cmd.ProcessState != nil {
			break
		}
	}
	return fmt.Errorf("redis-server on %s did not start: %w; log: %s", s.addr, err, s.logTail())
}

// command sends one inline command and returns the first line of the
// reply, which is enough for PING and INFO-style checks.
func (s *server) command(args ...string) (string, error) {
	c, err := net.DialTimeout("tcp", s.addr, time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := fmt.Fprintf(c, "%s\r\n", strings.Join(args, " ")); err != nil {
		return "", err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return strings.TrimRight(line, "\r\n"), err
}

// info returns the text of an INFO (or CLUSTER INFO) reply, read as a
// bulk string.
func (s *server) info(args ...string) (string, error) {
	c, err := net.DialTimeout("tcp", s.addr, time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := fmt.Fprintf(c, "%s\r\n", strings.Join(args, " ")); err != nil {
		return "", err
	}
	r := bufio.NewReader(c)
	head, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	n, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(head, "$")))
	if err != nil || !strings.HasPrefix(head, "$") {
		return "", fmt.Errorf("%s: unexpected reply %q", args[0], head)
	}
	buf := make([]byte, n+2)
	if _, err := io.ReadFull(r, buf); err != nil {
		return "", err
	}
	return string(buf[:n]), nil
}

func (s *server) logTail() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "redis.log"))
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

// stop kills the server and waits for it to exit.
func (s *server) stop() {
	if s.cmd.ProcessState == nil {
		s.cmd.Process.Kill()
		s.cmd.Wait()
	}
}

// startSingle starts a server for t, stopped when t ends.
func startSingle(t *testing.T) *server {
	t.Helper()
	needServer(t, false)
	s, err := startServer(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.stop)
	return s
}

// The cluster shared by the tests of this binary.
var (
	clusterOnce  sync.Once
	clusterNodes []*server
	clusterDir   string
	clusterErr   error
)

// sharedCluster returns the addresses of the test cluster, starting it on
// first use; it skips the test when the binaries are missing.
func sharedCluster(t *testing.T) []string {
	t.Helper()
	needServer(t, true)
	clusterOnce.Do(func() { clusterErr = startCluster() })
	if clusterErr != nil {
		t.Fatalf("starting the cluster: %v", clusterErr)
	}
	addrs := make([]string, len(clusterNodes))
	for i, n := range clusterNodes {
		addrs[i] = n.addr
	}
	return addrs
}

// startCluster starts six cluster-mode servers, joins them with
// redis-cli --cluster create into three masters with a replica each, and
// waits until every node reports cluster_state:ok and every master has
// its replica online.
func startCluster() error {
	dir, err := os.MkdirTemp("", "redisstore-cluster-")
	if err != nil {
		return err
	}
	clusterDir = dir
	for i := range 6 {
		s, err := startServer(filepath.Join(dir, strconv.Itoa(i)),
			"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
			"--cluster-node-timeout", "2000")
		if err != nil {
			return err
		}
		clusterNodes = append(clusterNodes, s)
	}
	args := []string{"--cluster", "create"}
	for _, n := range clusterNodes {
		args = append(args, n.addr)
	}
	args = append(args, "--cluster-replicas", "1", "--cluster-yes")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "redis-cli", args...).CombinedOutput(); err != nil {
		return fmt.Errorf("redis-cli --cluster create: %w: %s", err, out)
	}
	deadline := time.Now().Add(30 * time.Second)
	for _, n := range clusterNodes {
		for {
			ok, err := clusterNodeReady(n)
			if ok {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("node %s not ready: %w", n.addr, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return nil
}

// clusterNodeReady reports whether n sees a healthy cluster and, if it is
// a master, has a replica in sync.
func clusterNodeReady(n *server) (bool, error) {
	ci, err := n.info("CLUSTER", "INFO")
	if err != nil {
		return false, err
	}
	if !strings.Contains(ci, "cluster_state:ok") {
		return false, errors.New("cluster_state is not ok")
	}
	ri, err := n.info("INFO", "replication")
	if err != nil {
		return false, err
	}
	if strings.Contains(ri, "role:master") && !strings.Contains(ri, "state=online") {
		return false, errors.New("master without an online replica")
	}
	return true, nil
}

// stopCluster stops the shared cluster, if it was started.
func stopCluster() {
	for _, n := range clusterNodes {
		n.stop()
	}
	if clusterDir != "" {
		os.RemoveAll(clusterDir)
	}
}
