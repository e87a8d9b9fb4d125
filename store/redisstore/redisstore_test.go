package redisstore

import (
	"context"
	"testing"

	"github.com/redis/go-redis/v9"

	"kvhttp/api"
	"kvhttp/store/storetest"
)

// openTest opens a Store for t with opts, closed when t ends.
func openTest(t *testing.T, opts Options) *Store {
	t.Helper()
	s, err := Open(t.Context(), opts)
	if err != nil {
		t.Fatalf("Open(%+v): %v", opts, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// rawClient returns a go-redis client of the servers at addrs, for checks
// that look under the Store, closed when t ends.
func rawClient(t *testing.T, addrs []string, cluster bool) redis.UniversalClient {
	t.Helper()
	var c redis.UniversalClient
	if cluster {
		c = redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs})
	} else {
		c = redis.NewClient(&redis.Options{Addr: addrs[0]})
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// flushAll empties every master behind c.
func flushAll(t *testing.T, c redis.UniversalClient) {
	t.Helper()
	var err error
	if cc, ok := c.(*redis.ClusterClient); ok {
		err = cc.ForEachMaster(t.Context(), func(ctx context.Context, m *redis.Client) error {
			return m.FlushAll(ctx).Err()
		})
	} else {
		err = c.FlushAll(t.Context()).Err()
	}
	if err != nil {
		t.Fatalf("FLUSHALL: %v", err)
	}
}

func TestSingle(t *testing.T) {
	addr := startSingle(t)
	raw := rawClient(t, []string{addr}, false)
	storetest.Run(t, func(t *testing.T) api.Store {
		flushAll(t, raw)
		return openTest(t, Options{Addrs: []string{addr}})
	})
}

func TestCluster(t *testing.T) {
	addrs := sharedCluster(t)
	raw := rawClient(t, addrs, true)
	storetest.Run(t, func(t *testing.T) api.Store {
		flushAll(t, raw)
		s := openTest(t, Options{Addrs: addrs, WaitReplicas: 1})
		if !s.Cluster() {
			t.Fatalf("Cluster(): got %v; want %v", false, true)
		}
		return s
	})
}
