package redisstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"kvhttp/store"
	"kvhttp/store/redisstore/redistest"
)

// listKeys returns the keys List passes to fn.
func listKeys(t *testing.T, s *Store, opts store.ListOptions) []string {
	t.Helper()
	keys := []string{}
	err := s.List(t.Context(), opts, func(it store.Item) error {
		keys = append(keys, string(it.Key))
		return nil
	})
	if err != nil {
		t.Fatalf("List(%+v): %v", opts, err)
	}
	return keys
}

func TestRecordLayout(t *testing.T) {
	addr := startSingle(t)
	raw := rawClient(t, []string{addr}, false)
	s := openTest(t, Options{Addrs: []string{addr}, KeyPrefix: "p:", Buckets: 4})
	ctx := t.Context()
	key := []byte("k")
	b := bucketOf(key, 4)
	l := newLayout("p:", 4)

	res, err := s.Put(ctx, key, []byte("v"), []byte("text/plain"), store.Cond{})
	if err != nil {
		t.Fatal(err)
	}
	rec, err := raw.HGetAll(ctx, l.dataKey(b, key)).Result()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"v": fmt.Sprint(res.Version), "t": "text/plain", "d": "v"}
	if fmt.Sprint(rec) != fmt.Sprint(want) {
		t.Errorf("record hash: got %v; want %v", rec, want)
	}
	if got, _ := raw.ZRange(ctx, l.indexKey(b), 0, -1).Result(); !slices.Equal(got, []string{"k"}) {
		t.Errorf("index: got %q; want %q", got, []string{"k"})
	}
	if got, _ := raw.HGetAll(ctx, "p:meta").Result(); got["format"] != layoutFormat || got["buckets"] != "4" {
		t.Errorf("meta: got %v; want format %s, buckets 4", got, layoutFormat)
	}
	// Versions are the bucket's counter times the bucket count plus the
	// bucket: unique across buckets.
	n, _ := raw.Get(ctx, l.counterKey(b)).Uint64()
	if want := n*4 + uint64(b); res.Version != want {
		t.Errorf("version: got %v; want counter %d * 4 + bucket %d = %d", res.Version, n, b, want)
	}

	if err := s.Delete(ctx, key, store.Cond{}); err != nil {
		t.Fatal(err)
	}
	if got, _ := raw.Exists(ctx, l.dataKey(b, key)).Result(); got != 0 {
		t.Errorf("record after Delete: got %d keys; want 0", got)
	}
	if got, _ := raw.ZCard(ctx, l.indexKey(b)).Result(); got != 0 {
		t.Errorf("index after Delete: got %d members; want 0", got)
	}
	// The counter outlives the key, so a new key gets a new version.
	again, err := s.Put(ctx, key, []byte("again"), nil, store.Cond{Kind: store.IfAbsent})
	if err != nil {
		t.Fatal(err)
	}
	if again.Version <= res.Version {
		t.Errorf("version after re-create: got %v; want more than %v", again.Version, res.Version)
	}
}

func TestReopen(t *testing.T) {
	addr := startSingle(t)
	raw := rawClient(t, []string{addr}, false)
	addrs := []string{addr}
	ctx := t.Context()
	first := openTest(t, Options{Addrs: addrs, Buckets: 8})
	if _, err := first.Put(ctx, []byte("k"), []byte("v"), nil, store.Cond{}); err != nil {
		t.Fatal(err)
	}

	if _, err := Open(ctx, Options{Addrs: addrs, Buckets: 16}); !errors.Is(err, ErrLayout) {
		t.Errorf("Open with another bucket count: got %v; want %v", err, ErrLayout)
	}
	again := openTest(t, Options{Addrs: addrs})
	if got := again.Buckets(); got != 8 {
		t.Errorf("Buckets() of a reopened store: got %v; want %v", got, 8)
	}
	if it, err := again.Get(ctx, []byte("k"), nil); err != nil || string(it.Value) != "v" {
		t.Errorf("Get after reopening: got %q, %v; want %q", it.Value, err, "v")
	}
	other := openTest(t, Options{Addrs: addrs, KeyPrefix: "other:"})
	if got := other.Buckets(); got != DefaultBuckets {
		t.Errorf("Buckets() of a new store: got %v; want %v", got, DefaultBuckets)
	}
	if _, err := other.Get(ctx, []byte("k"), nil); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Get under another prefix: got %v; want %v", err, store.ErrNotFound)
	}

	raw.HSet(ctx, DefaultKeyPrefix+metaSuffix, "format", "9")
	if _, err := Open(ctx, Options{Addrs: addrs}); !errors.Is(err, ErrLayout) {
		t.Errorf("Open of an unknown format: got %v; want %v", err, ErrLayout)
	}
}

func TestOpenUnreachable(t *testing.T) {
	port, err := redistest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	_, err = Open(t.Context(), Options{Addrs: []string{fmt.Sprintf("127.0.0.1:%d", port)}})
	if err == nil {
		t.Fatalf("Open of a closed port: got %v; want an error", err)
	}
}

// TestOpenRefusesEviction: a Redis that may evict any key is refused;
// one that evicts only keys with an expiry (this package sets none) or
// none at all is taken.
func TestOpenRefusesEviction(t *testing.T) {
	tests := []struct {
		policy string
		want   error
	}{
		{"allkeys-lru", ErrEvicts},
		{"allkeys-random", ErrEvicts},
		{"volatile-lru", nil},
		{"noeviction", nil},
	}
	for _, tc := range tests {
		t.Run(tc.policy, func(t *testing.T) {
			addr := redistest.StartServer(t, "--maxmemory-policy", tc.policy)
			s, err := Open(t.Context(), Options{Addrs: []string{addr}})
			if err == nil {
				s.Close()
			}
			if !errors.Is(err, tc.want) && (tc.want != nil || err != nil) {
				t.Errorf("got %v; want %v", err, tc.want)
			}
		})
	}
}

func TestWaitReplicasTimeout(t *testing.T) {
	addr := startSingle(t) // no replica: WAIT 1 always falls short
	s := openTest(t, Options{Addrs: []string{addr}, WaitReplicas: 1, WaitTimeout: 20 * time.Millisecond})
	ctx := t.Context()

	res, err := s.Put(ctx, []byte("k"), []byte("v"), nil, store.Cond{})
	if !errors.Is(err, ErrReplicaTimeout) {
		t.Errorf("Put: got %v; want %v", err, ErrReplicaTimeout)
	}
	if res.Version == 0 {
		t.Errorf("Put's version with ErrReplicaTimeout: got %v; want the applied write's", res.Version)
	}
	if it, err := s.Get(ctx, []byte("k"), nil); err != nil || it.Version != res.Version {
		t.Errorf("Get after an unconfirmed Put: got v%d, %v; want v%d", it.Version, err, res.Version)
	}
	// A failed condition applied nothing: there is nothing to wait for.
	if _, err := s.Put(ctx, []byte("k"), []byte("v"), nil, store.Cond{Kind: store.IfAbsent}); !errors.Is(err, store.ErrExists) {
		t.Errorf("Put IfAbsent: got %v; want %v", err, store.ErrExists)
	}
	if err := s.PutAll(ctx, []store.Item{{Key: []byte("a")}, {Key: []byte("b")}}); !errors.Is(err, ErrReplicaTimeout) {
		t.Errorf("PutAll: got %v; want %v", err, ErrReplicaTimeout)
	}
	if got := listKeys(t, s, store.ListOptions{}); !slices.Equal(got, []string{"a", "b", "k"}) {
		t.Errorf("keys after unconfirmed writes: got %q; want %q", got, []string{"a", "b", "k"})
	}
	if err := s.Delete(ctx, []byte("k"), store.Cond{}); !errors.Is(err, ErrReplicaTimeout) {
		t.Errorf("Delete: got %v; want %v", err, ErrReplicaTimeout)
	}
}

func TestWaitReplicas(t *testing.T) {
	primary := startSingle(t)
	replica := redistest.StartServer(t, "--replicaof", strings.Replace(primary, ":", " ", 1))
	s := openTest(t, Options{Addrs: []string{primary}, WaitReplicas: 1, WaitTimeout: 5 * time.Second})
	ctx := t.Context()
	// The replica may still be syncing: the first write waits for it.
	if _, err := s.Put(ctx, []byte("k"), []byte("v"), nil, store.Cond{}); err != nil {
		t.Fatalf("Put: %v", err)
	}
	if err := s.PutAll(ctx, []store.Item{{Key: []byte("a")}, {Key: []byte("b")}}); err != nil {
		t.Fatalf("PutAll: %v", err)
	}
	// What WAIT confirmed is on the replica.
	rc := rawClient(t, []string{replica}, false)
	b := bucketOf([]byte("a"), s.Buckets())
	if n, err := rc.Exists(ctx, s.layout.dataKey(b, []byte("a"))).Result(); err != nil || n != 1 {
		t.Errorf("record of a on the replica: got %d, %v; want 1", n, err)
	}
}

func TestScriptsReloaded(t *testing.T) {
	addr := startSingle(t)
	raw := rawClient(t, []string{addr}, false)
	s := openTest(t, Options{Addrs: []string{addr}})
	ctx := t.Context()
	steps := []struct {
		name string
		do   func() error
	}{
		{"Put", func() error {
			_, err := s.Put(ctx, []byte("k"), []byte("v"), nil, store.Cond{})
			return err
		}},
		{"PutAll", func() error { return s.PutAll(ctx, []store.Item{{Key: []byte("a")}, {Key: []byte("b")}}) }},
		{"Delete", func() error { return s.Delete(ctx, []byte("k"), store.Cond{}) }},
	}
	for _, step := range steps {
		if err := raw.ScriptFlush(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		if err := step.do(); err != nil {
			t.Errorf("%s after SCRIPT FLUSH: got %v; want %v", step.name, err, nil)
		}
	}
	if got := listKeys(t, s, store.ListOptions{}); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("keys: got %q; want %q", got, []string{"a", "b"})
	}
}

func TestListFirstOfPrefix(t *testing.T) {
	addr := startSingle(t)
	raw := rawClient(t, []string{addr}, false)
	s := openTest(t, Options{Addrs: []string{addr}})
	ctx := t.Context()
	for _, k := range []string{"a", "a0", "ab", "b"} {
		if _, err := s.Put(ctx, []byte(k), []byte(k), nil, store.Cond{}); err != nil {
			t.Fatal(err)
		}
	}
	// How the API learns a key's version: the first item of the key as a
	// prefix. When the key exists, that takes one read and no index scan.
	raw.ConfigResetStat(ctx)
	if got := listKeys(t, s, store.ListOptions{Prefix: []byte("a"), Limit: 1}); !slices.Equal(got, []string{"a"}) {
		t.Errorf("first of prefix a: got %q; want %q", got, []string{"a"})
	}
	if stats, _ := raw.Info(ctx, "commandstats").Result(); strings.Contains(stats, "zrangebylex") {
		t.Errorf("first of an existing key's prefix: got a ZRANGEBYLEX; want none")
	}
	tests := []struct {
		name string
		opts store.ListOptions
		want []string
	}{
		{"after the prefix key", store.ListOptions{Prefix: []byte("a"), After: []byte("a"), Limit: 1}, []string{"a0"}},
		{"after before the prefix", store.ListOptions{Prefix: []byte("a"), After: []byte("\x00"), Limit: 1}, []string{"a"}},
		{"prefix that is no key", store.ListOptions{Prefix: []byte("a\x00"), Limit: 1}, []string{}},
		{"prefix key absent", store.ListOptions{Prefix: []byte("c"), Limit: 1}, []string{}},
	}
	for _, tt := range tests {
		if got := listKeys(t, s, tt.opts); !slices.Equal(got, tt.want) {
			t.Errorf("%s: got %q; want %q", tt.name, got, tt.want)
		}
	}
	if err := s.Delete(ctx, []byte("a"), store.Cond{}); err != nil {
		t.Fatal(err)
	}
	if got := listKeys(t, s, store.ListOptions{Prefix: []byte("a"), Limit: 1}); !slices.Equal(got, []string{"a0"}) {
		t.Errorf("first of prefix a after deleting a: got %q; want %q", got, []string{"a0"})
	}
}

func TestClusterKeySlot(t *testing.T) {
	addrs := sharedCluster(t)
	raw := rawClient(t, addrs, true)
	l := newLayout(DefaultKeyPrefix, DefaultBuckets)
	keys := []string{"foo", "{}user1000", "foo{}{bar}", "foo{{bar}}zap", "{", "}{", "a{b}c{d}"}
	for b := range DefaultBuckets {
		keys = append(keys, l.dataKey(b, []byte("\x00{x}\xff")), l.indexKey(b))
	}
	for _, k := range keys {
		want, err := raw.ClusterKeySlot(t.Context(), k).Result()
		if err != nil {
			t.Fatal(err)
		}
		if got := keySlot(k); int64(got) != want {
			t.Errorf("keySlot(%q): got %v; want %v (CLUSTER KEYSLOT)", k, got, want)
		}
	}
}

func TestClusterSpread(t *testing.T) {
	addrs := sharedCluster(t)
	raw := rawClient(t, addrs, true)
	flushAll(t, raw)
	// One address and no Cluster option: Open finds out.
	s := openTest(t, Options{Addrs: addrs[:1], WaitReplicas: 1})
	if !s.Cluster() {
		t.Fatalf("Cluster() with one address of a cluster: got %v; want %v", false, true)
	}
	const n = 600
	items := make([]store.Item, n)
	for i := range items {
		items[i] = store.Item{Key: fmt.Appendf(nil, "key-%d", i), Value: []byte("v")}
	}
	if err := s.PutAll(t.Context(), items); err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		sizes []int64
	)
	err := raw.(*redis.ClusterClient).ForEachMaster(t.Context(), func(ctx context.Context, m *redis.Client) error {
		keys, err := m.Keys(ctx, DefaultKeyPrefix+"{*}k:*").Result()
		if err != nil {
			return err
		}
		mu.Lock()
		sizes = append(sizes, int64(len(keys)))
		mu.Unlock()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Three masters with equal slot ranges hold about n/3 keys each.
	for _, size := range sizes {
		if size < n/4 {
			t.Errorf("records per master: got %v; want about %d each", sizes, n/3)
			break
		}
	}
	if got := len(listKeys(t, s, store.ListOptions{Prefix: []byte("key-")})); got != n {
		t.Errorf("listed keys: got %v; want %v", got, n)
	}
}
