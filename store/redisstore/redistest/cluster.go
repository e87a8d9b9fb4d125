package redistest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// NodeTimeout is the cluster-node-timeout of the nodes StartCluster and
// NewCluster start: a master that has not answered for this long is
// marked failed and its replica takes over.
const NodeTimeout = 2 * time.Second

// Cluster is a Redis Cluster of three masters with one replica each, made
// with redis-cli --cluster create.
type Cluster struct {
	// Nodes are the six servers: at creation the first three are the
	// masters and the next three their replicas; roles change with
	// failovers (see Masters and Replicas).
	Nodes []*Server
	dir   string
}

// StartCluster starts a cluster for t and waits until it is ready; the
// cluster is stopped when t ends. It skips t when redis-server or
// redis-cli is missing and fails t when the cluster does not form.
func StartCluster(t testing.TB) *Cluster {
	t.Helper()
	Skip(t, true)
	c, err := NewCluster()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Stop)
	return c
}

// NewCluster starts six cluster-mode servers in a new temporary folder,
// joins them into three masters with a replica each, and waits until
// every node reports cluster_state:ok and every master has its replica
// online. The caller stops it.
func NewCluster() (*Cluster, error) {
	dir, err := os.MkdirTemp("", "redistest-cluster-")
	if err != nil {
		return nil, fmt.Errorf("redistest: %w", err)
	}
	c := &Cluster{dir: dir}
	if err := c.create(); err != nil {
		c.Stop()
		return nil, err
	}
	return c, nil
}

func (c *Cluster) create() error {
	for i := range 6 {
		s, err := NewServer(filepath.Join(c.dir, strconv.Itoa(i)),
			"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
			"--cluster-node-timeout", strconv.FormatInt(NodeTimeout.Milliseconds(), 10))
		if err != nil {
			return err
		}
		c.Nodes = append(c.Nodes, s)
	}
	args := append([]string{"--cluster", "create"}, c.Addrs()...)
	args = append(args, "--cluster-replicas", "1", "--cluster-yes")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "redis-cli", args...).CombinedOutput(); err != nil {
		return fmt.Errorf("redistest: redis-cli --cluster create: %w: %s", err, out)
	}
	return c.WaitSynced(30 * time.Second)
}

// Addrs returns the addresses of the six nodes, running or not.
func (c *Cluster) Addrs() []string {
	addrs := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		addrs[i] = n.Addr
	}
	return addrs
}

// Node returns the node at addr, or nil.
func (c *Cluster) Node(addr string) *Server {
	for _, n := range c.Nodes {
		if n.Addr == addr {
			return n
		}
	}
	return nil
}

// Masters returns the addresses of the running nodes that are masters now.
func (c *Cluster) Masters() []string { return c.withRole("role:master") }

// Replicas returns the addresses of the running nodes that are replicas now.
func (c *Cluster) Replicas() []string { return c.withRole("role:slave") }

func (c *Cluster) withRole(role string) []string {
	var addrs []string
	for _, n := range c.Nodes {
		if !n.Running() {
			continue
		}
		if ri, err := n.Info("INFO", "replication"); err == nil && strings.Contains(ri, role+"\r\n") {
			addrs = append(addrs, n.Addr)
		}
	}
	return addrs
}

// ReplicaOf returns the address of a running replica of the master at
// addr, or an error if it has none.
func (c *Cluster) ReplicaOf(master string) (string, error) {
	host, port, _ := strings.Cut(master, ":")
	for _, n := range c.Nodes {
		if !n.Running() || n.Addr == master {
			continue
		}
		ri, err := n.Info("INFO", "replication")
		if err == nil && strings.Contains(ri, "role:slave\r\n") &&
			strings.Contains(ri, "master_host:"+host+"\r\n") && strings.Contains(ri, "master_port:"+port+"\r\n") {
			return n.Addr, nil
		}
	}
	return "", fmt.Errorf("redistest: no running replica of %s", master)
}

// Kill sends SIGKILL to the node at addr and waits for it to exit.
func (c *Cluster) Kill(addr string) error {
	n := c.Node(addr)
	if n == nil {
		return fmt.Errorf("redistest: no node %s", addr)
	}
	return n.Kill()
}

// Restart starts the node at addr again after Kill. It rejoins the
// cluster from its nodes.conf, with no data (persistence is off): a
// master that was failed over comes back as a replica of its successor.
func (c *Cluster) Restart(addr string) error {
	n := c.Node(addr)
	if n == nil {
		return fmt.Errorf("redistest: no node %s", addr)
	}
	return n.Restart()
}

// WaitOK waits until every running node reports cluster_state:ok, as it
// does again after a failover has promoted a failed master's replica.
func (c *Cluster) WaitOK(timeout time.Duration) error {
	return c.wait(timeout, false)
}

// WaitSynced waits until every running node reports cluster_state:ok and
// every running master has a replica online.
func (c *Cluster) WaitSynced(timeout time.Duration) error {
	return c.wait(timeout, true)
}

func (c *Cluster) wait(timeout time.Duration, synced bool) error {
	deadline := time.Now().Add(timeout)
	for _, n := range c.Nodes {
		for n.Running() {
			err := nodeReady(n, synced)
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("redistest: node %s not ready after %v: %w", n.Addr, timeout, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return nil
}

// nodeReady reports why n is not ready: it does not see a healthy
// cluster or, with synced, it is a master without a replica online.
func nodeReady(n *Server, synced bool) error {
	ci, err := n.Info("CLUSTER", "INFO")
	if err != nil {
		return err
	}
	if !strings.Contains(ci, "cluster_state:ok") {
		return errors.New("cluster_state is not ok")
	}
	if !synced {
		return nil
	}
	ri, err := n.Info("INFO", "replication")
	if err != nil {
		return err
	}
	if strings.Contains(ri, "role:master") && !strings.Contains(ri, "state=online") {
		return errors.New("master without an online replica")
	}
	return nil
}

// Stop kills every node and removes the cluster's folder.
func (c *Cluster) Stop() {
	for _, n := range c.Nodes {
		n.Stop()
	}
	os.RemoveAll(c.dir)
}
