package redisstore

import (
	"os"
	"sync"
	"testing"

	"kvhttp/store/redisstore/redistest"
)

// Tests run their own redis-server processes (package redistest). A
// single server belongs to the test that started it; the cluster (three
// masters, three replicas) is started once per test binary, by the first
// test that needs it, and stopped by TestMain.

func TestMain(m *testing.M) {
	code := m.Run()
	if cluster != nil {
		cluster.Stop()
	}
	os.Exit(code)
}

// startSingle starts a server for t, stopped when t ends, and returns its
// address; it skips the test when redis-server is missing.
func startSingle(t *testing.T) string {
	t.Helper()
	return redistest.StartServer(t)
}

// The cluster shared by the tests of this binary.
var (
	clusterOnce sync.Once
	cluster     *redistest.Cluster
	clusterErr  error
)

// sharedCluster returns the addresses of the test cluster, starting it on
// first use; it skips the test when the binaries are missing.
func sharedCluster(t *testing.T) []string {
	t.Helper()
	redistest.Skip(t, true)
	clusterOnce.Do(func() { cluster, clusterErr = redistest.NewCluster() })
	if clusterErr != nil {
		t.Fatalf("starting the cluster: %v", clusterErr)
	}
	return cluster.Addrs()
}
