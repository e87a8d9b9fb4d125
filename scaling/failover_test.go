package scaling

import (
	"context"
	"fmt"
	"hash/fnv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/logging"

	"kvhttp/client"
	"kvhttp/store/redisstore"
	"kvhttp/store/redisstore/redistest"
)

// Failover test parameters.
const (
	failoverWriters = 16
	killAfter       = 2 * time.Second // of steady load before the kill
	loadAfterResume = 2 * time.Second // of load once writes resumed
	// resumeWithin bounds the wait for writes to the killed master's
	// slots to succeed again.
	resumeWithin = redistest.NodeTimeout + 10*time.Second
)

// write is the outcome of one PUT of the load.
type write struct {
	key        string
	start, end time.Time
	ok         bool // acknowledged: 2xx
}

// TestFailover writes unique keys with 16 writers, straight to the two
// front ends (no nginx), each front end waiting for one replica (WAIT 1)
// before acknowledging. After two seconds it SIGKILLs one master; the
// cluster promotes its replica after the node timeout, and the test then
// restarts the killed node, which rejoins as the new master's replica (a
// master without a replica cannot satisfy WAIT 1). It measures how long
// after the kill writes to the killed master's slots succeed again, and
// once the load stops reads every acknowledged key back: none may be
// lost.
func TestFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("a failover under load takes some 12 s; skipped with -short")
	}
	cluster := redistest.StartCluster(t)
	// go-redis logs each failed dial to the killed master, by design.
	redis.SetLogger(&logging.VoidLogger{})
	fronts := []*frontEnd{
		startFrontEnd(t, cluster.Addrs(), redisstore.DefaultKeyPrefix),
		startFrontEnd(t, cluster.Addrs(), redisstore.DefaultKeyPrefix),
	}
	victim := cluster.Masters()[0]
	replica, err := cluster.ReplicaOf(victim)
	if err != nil {
		t.Fatal(err)
	}
	onVictim := victimBuckets(t, fronts[0], victim)
	t.Logf("killing master %s (%d buckets of %d), its replica is %s", victim, len(onVictim), fronts[0].store.Buckets(), replica)
	isVictim := func(key string) bool { return onVictim[bucketOf(key, fronts[0].store.Buckets())] }

	var (
		mu      sync.Mutex
		writes  []write
		stop    atomic.Bool
		wg      sync.WaitGroup
		clients []*client.Client
		// Unix nanoseconds: when the master was killed, and when the
		// first write to its slots sent after that was acknowledged.
		killedAt, resumedAt atomic.Int64
	)
	for _, fe := range fronts {
		c := &client.Client{Addr: fe.addr, MaxIdleConns: failoverWriters}
		clients = append(clients, c)
		t.Cleanup(func() { c.Close() })
	}
	loadStart := time.Now()
	for w := range failoverWriters {
		c := clients[w%len(clients)]
		wg.Go(func() {
			var mine []write
			for i := 0; !stop.Load(); i++ {
				key := fmt.Sprintf("w%02d/%07d", w, i)
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				wr := write{key: key, start: time.Now()}
				_, err := c.Put(ctx, key, []byte(key), nil)
				cancel()
				wr.end, wr.ok = time.Now(), err == nil
				mine = append(mine, wr)
				if k := killedAt.Load(); wr.ok && k != 0 && wr.start.UnixNano() > k && isVictim(key) {
					resumedAt.CompareAndSwap(0, wr.end.UnixNano())
				}
			}
			mu.Lock()
			writes = append(writes, mine...)
			mu.Unlock()
		})
	}
	t.Cleanup(func() { // if the test fails early
		stop.Store(true)
		wg.Wait()
	})

	time.Sleep(killAfter)
	killing := time.Now()
	if err := cluster.Kill(victim); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	killedAt.Store(killed.UnixNano())
	// The replica takes over after the node timeout; then the killed node
	// is restarted, as a supervisor would, and rejoins as its replica.
	var promoted time.Duration
	if err := waitPromoted(cluster, replica, resumeWithin); err != nil {
		t.Error(err)
	} else {
		promoted = time.Since(killed)
		if err := cluster.Restart(victim); err != nil {
			t.Error(err)
		}
	}
	for deadline := killed.Add(resumeWithin); resumedAt.Load() == 0 && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	if resumedAt.Load() != 0 {
		time.Sleep(loadAfterResume)
	}
	stop.Store(true)
	wg.Wait()
	loadTime := time.Since(loadStart)
	if resumedAt.Load() == 0 {
		t.Fatalf("writes to the killed master's slots did not resume within %v of the kill", resumeWithin)
	}
	resumed := time.Unix(0, resumedAt.Load()).Sub(killed)

	acked, errorsDuring, victimAcked := 0, 0, 0
	var longest time.Duration
	want := make(map[string]bool)
	for _, wr := range writes {
		longest = max(longest, wr.end.Sub(wr.start))
		if wr.ok {
			acked++
			want[wr.key] = true
			if isVictim(wr.key) {
				victimAcked++
			}
		} else if wr.end.After(killing) {
			errorsDuring++
		}
	}
	lost := readBack(t, clients[0], want)
	t.Logf("%d writes in %v: %d acknowledged (%d on the killed master's slots), %d failed from the kill on; the longest took %v; replica promoted after %v, writes resumed after %v",
		len(writes), loadTime.Round(time.Millisecond), acked, victimAcked, errorsDuring, longest.Round(time.Millisecond), promoted.Round(time.Millisecond), resumed.Round(time.Millisecond))
	fmt.Printf("failover: acknowledged=%d lost=%d resumed_after=%.1fs errors_during=%d\n", acked, lost, resumed.Seconds(), errorsDuring)
	if lost > 0 {
		t.Errorf("acknowledged writes lost: got %d; want 0", lost)
	}
}

// bucketOf returns the bucket of key in a store of n buckets, as the
// redisstore package documentation defines it: FNV-1a-32(key) mod n.
func bucketOf(key string, n int) int {
	h := fnv.New32a()
	h.Write([]byte(key))
	return int(h.Sum32() % uint32(n))
}

// victimBuckets writes two keys to each bucket of fe's store and returns
// the buckets whose keys live on the master at addr. Both keys of a
// bucket must be there or neither, which checks bucketOf.
func victimBuckets(t *testing.T, fe *frontEnd, addr string) map[int]bool {
	t.Helper()
	ctx := callCtx(t)
	n := fe.store.Buckets()
	probes := make(map[string]int) // key: bucket
	perBucket := make([]int, n)
	for i := 0; len(probes) < 2*n; i++ {
		key := fmt.Sprintf("probe/%d", i)
		if b := bucketOf(key, n); perBucket[b] < 2 {
			perBucket[b]++
			probes[key] = b
		}
	}
	c := &client.Client{Addr: fe.addr}
	defer c.Close()
	for key := range probes {
		if _, err := c.Put(ctx, key, nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	rc := redis.NewClient(&redis.Options{Addr: addr})
	defer rc.Close()
	names, err := rc.Keys(ctx, redisstore.DefaultKeyPrefix+"{*}k:probe/*").Result()
	if err != nil {
		t.Fatalf("KEYS on %s: %v", addr, err)
	}
	on := make(map[int]int) // bucket: probe keys found
	for _, name := range names {
		_, key, _ := strings.Cut(name, "}k:")
		b, ok := probes[key]
		if !ok {
			t.Fatalf("KEYS on %s: got %q; want one of the probe keys", addr, name)
		}
		on[b]++
	}
	buckets := make(map[int]bool)
	for b, found := range on {
		if found != 2 {
			t.Fatalf("master %s holds %d of the 2 probe keys of bucket %d; want both (is the bucket FNV-1a-32 mod %d?)", addr, found, b, n)
		}
		buckets[b] = true
	}
	if len(buckets) == 0 {
		t.Fatalf("no bucket of %d lives on master %s", n, addr)
	}
	return buckets
}

// waitPromoted waits until the node at replica is a master and every
// running node reports cluster_state:ok.
func waitPromoted(cluster *redistest.Cluster, replica string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		for _, m := range cluster.Masters() {
			if m == replica {
				return cluster.WaitOK(time.Until(deadline))
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("replica %s not promoted within %v of the kill", replica, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// readBack lists the load's keys through c and returns how many of the
// acknowledged ones, want, are missing or hold another value.
func readBack(t *testing.T, c *client.Client, want map[string]bool) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	found := 0
	for it, err := range c.List(ctx, client.ListOptions{Prefix: "w", PageSize: 5000}) {
		if err != nil {
			t.Fatalf("listing the written keys: %v", err)
		}
		if want[it.Key] && string(it.Value) == it.Key {
			found++
		}
	}
	return len(want) - found
}
