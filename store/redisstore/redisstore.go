package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"kvhttp/api"
	"kvhttp/store"
)

var _ api.Store = (*Store)(nil)

// Defaults for Options.
const (
	// DefaultAddr is the server Open connects to when Options.Addrs is empty.
	DefaultAddr = "127.0.0.1:6379"
	// DefaultKeyPrefix starts the name of every Redis key of a store.
	DefaultKeyPrefix = "kvhttp:"
	// DefaultBuckets is the bucket count of a new store (see Buckets in the
	// package documentation).
	DefaultBuckets = 64
	// MaxBuckets is the largest bucket count: one per cluster slot.
	MaxBuckets = numSlots
	// DefaultWaitTimeout bounds WAIT when Options.WaitTimeout is zero.
	DefaultWaitTimeout = 2 * time.Second
	// minReadTimeout is go-redis's default socket read timeout; Open raises
	// it above the WAIT timeout, since a pipeline's replies (WAIT's among
	// them) are read under one deadline.
	minReadTimeout = 3 * time.Second
)

// Errors of this package. Failed conditions, missing keys and a closed
// store are reported with the sentinels of package store.
var (
	// ErrOptions: Open was given options it cannot use.
	ErrOptions = errors.New("redisstore: invalid options")
	// ErrLayout: the Redis data under the key prefix was written with
	// another layout or bucket count than this Store would use.
	ErrLayout = errors.New("redisstore: stored layout does not match")
	// ErrReplicaTimeout: a write was applied by its master, but fewer than
	// Options.WaitReplicas replicas confirmed it within Options.WaitTimeout.
	// The write is visible and may or may not survive a failover.
	ErrReplicaTimeout = errors.New("redisstore: write not confirmed by enough replicas")
	// ErrRedirect: a write kept being redirected (the cluster was moving
	// its slot or failing over) and was not applied.
	ErrRedirect = errors.New("redisstore: write kept being redirected")
	// ErrEvicts: a Redis server may evict any key when its memory is
	// full (maxmemory-policy allkeys-*): stored pairs, and the counters
	// that keep versions from being reused, could vanish.
	ErrEvicts = errors.New("redisstore: Redis may evict stored keys")
)

// Options configure Open. The zero value connects to DefaultAddr.
type Options struct {
	// Addrs are host:port addresses: the server, or some nodes of a
	// cluster (the client discovers the others). Empty means DefaultAddr.
	Addrs []string
	// Cluster selects Redis Cluster. It is implied by more than one
	// address, and by a single address whose server reports
	// cluster_enabled:1.
	Cluster bool
	// Password authenticates every connection when not empty.
	Password string
	// WaitReplicas, when positive, makes every write wait (with Redis's
	// WAIT) until that many replicas of the key's master have it, or until
	// WaitTimeout has passed, which fails the write with
	// ErrReplicaTimeout. Zero acknowledges a write once its master has
	// applied it. One is the usual choice for a cluster with a replica per
	// master; a server without replicas must use zero.
	WaitReplicas int
	// WaitTimeout bounds the wait for replicas; zero means
	// DefaultWaitTimeout.
	WaitTimeout time.Duration
	// KeyPrefix starts the name of every Redis key of the store, so that
	// several stores (or other data) can share a server. Empty means
	// DefaultKeyPrefix. It must not contain '{' or '}', which would change
	// the cluster slots of the store's keys.
	KeyPrefix string
	// Buckets is the number of buckets of a new store; zero means
	// DefaultBuckets for a new store and the stored count for an existing
	// one. A store keeps its count for life: Open fails with ErrLayout when
	// a non-zero Buckets differs from the count already stored.
	Buckets int
}

// Store is a store.Item collection kept in Redis, on one server or a Redis
// Cluster. Its methods are safe for concurrent use.
type Store struct {
	rdb     redis.UniversalClient // reads: a *redis.Client or a *redis.ClusterClient
	single  *redis.Client         // single-node mode, else nil
	cluster *redis.ClusterClient  // cluster mode, else nil
	layout  layout

	waitReplicas int
	waitTimeout  time.Duration

	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error
}

// Open connects to Redis and returns a Store of the data under
// Options.KeyPrefix, creating its layout marker if there is none. It fails
// with ErrOptions for unusable options, ErrLayout for data of another
// layout, and with the connection's error when Redis cannot be reached.
func Open(ctx context.Context, opts Options) (*Store, error) {
	if err := checkOptions(&opts); err != nil {
		return nil, err
	}
	s := &Store{waitReplicas: opts.WaitReplicas, waitTimeout: opts.WaitTimeout}
	if err := s.connect(ctx, opts); err != nil {
		return nil, fmt.Errorf("redisstore: open %s: %w", strings.Join(opts.Addrs, ","), err)
	}
	err := s.checkEviction(ctx)
	n := 0
	if err == nil {
		n, err = checkMeta(ctx, s.rdb, opts.KeyPrefix+metaSuffix, opts.Buckets)
	}
	if err == nil {
		err = s.loadScripts(ctx)
	}
	if err != nil {
		s.rdb.Close()
		return nil, fmt.Errorf("redisstore: open %s: %w", strings.Join(opts.Addrs, ","), err)
	}
	s.layout = newLayout(opts.KeyPrefix, n)
	return s, nil
}

// checkOptions validates opts and fills in defaults.
func checkOptions(opts *Options) error {
	if len(opts.Addrs) == 0 {
		opts.Addrs = []string{DefaultAddr}
	}
	if opts.KeyPrefix == "" {
		opts.KeyPrefix = DefaultKeyPrefix
	}
	if opts.WaitTimeout <= 0 {
		opts.WaitTimeout = DefaultWaitTimeout
	}
	switch {
	case strings.ContainsAny(opts.KeyPrefix, "{}"):
		return fmt.Errorf("%w: key prefix %q contains a brace", ErrOptions, opts.KeyPrefix)
	case opts.Buckets < 0 || opts.Buckets > MaxBuckets:
		return fmt.Errorf("%w: %d buckets (want 1..%d, or 0 for the default)", ErrOptions, opts.Buckets, MaxBuckets)
	case opts.WaitReplicas < 0:
		return fmt.Errorf("%w: waiting for %d replicas", ErrOptions, opts.WaitReplicas)
	}
	for _, a := range opts.Addrs {
		if a == "" {
			return fmt.Errorf("%w: empty address", ErrOptions)
		}
	}
	return nil
}

// connect creates the client: a cluster client when asked for, when given
// several addresses, or when the one server given runs in cluster mode.
func (s *Store) connect(ctx context.Context, opts Options) error {
	readTimeout := max(minReadTimeout, opts.WaitTimeout+time.Second)
	// No automatic retries: a write whose reply was lost may have been
	// applied, and running it again could report a condition failure for
	// the client's own write. Writes are retried here only on errors that
	// prove they did not run (see retryable).
	off := &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	cluster := opts.Cluster || len(opts.Addrs) > 1
	if !cluster {
		c := redis.NewClient(&redis.Options{
			Addr: opts.Addrs[0], Password: opts.Password,
			MaxRetries: -1, ReadTimeout: readTimeout,
			MaintNotificationsConfig: off,
		})
		info, err := c.Info(ctx, "cluster").Result()
		if err != nil {
			c.Close()
			return err
		}
		if !strings.Contains(info, "cluster_enabled:1") {
			s.rdb, s.single = c, c
			return nil
		}
		c.Close()
	}
	c := redis.NewClusterClient(&redis.ClusterOptions{
		Addrs: opts.Addrs, Password: opts.Password,
		MaxRetries: -1, ReadTimeout: readTimeout,
		MaintNotificationsConfig: off,
	})
	if err := c.Ping(ctx).Err(); err != nil {
		c.Close()
		return err
	}
	s.rdb, s.cluster = c, c
	return nil
}

// checkEviction refuses a Redis whose memory policy evicts keys that
// have no expiry, which is every key this package writes. A server that
// does not answer CONFIG GET (some managed services rename it) is taken
// as it is.
func (s *Store) checkEviction(ctx context.Context) error {
	check := func(ctx context.Context, c *redis.Client) error {
		cfg, err := c.ConfigGet(ctx, "maxmemory-policy").Result()
		if err != nil {
			return nil
		}
		if p := cfg["maxmemory-policy"]; strings.HasPrefix(p, "allkeys-") {
			return fmt.Errorf("%w: %s has maxmemory-policy %s; use noeviction (or a volatile-* policy)", ErrEvicts, c.Options().Addr, p)
		}
		return nil
	}
	if s.cluster != nil {
		return s.cluster.ForEachMaster(ctx, check)
	}
	return check(ctx, s.single)
}

// loadScripts loads the write scripts on every master, so that EVALSHA
// finds them; a master that lost them (a restart, a failover) gets them
// again on its first NOSCRIPT.
func (s *Store) loadScripts(ctx context.Context) error {
	for _, sc := range scripts {
		if err := sc.Load(ctx, s.rdb).Err(); err != nil {
			return fmt.Errorf("loading scripts: %w", err)
		}
	}
	return nil
}

// Cluster reports whether the Store talks to a Redis Cluster.
func (s *Store) Cluster() bool { return s.cluster != nil }

// Buckets returns the store's bucket count.
func (s *Store) Buckets() int { return s.layout.buckets() }

// Close closes the connections to Redis. Calls that start later fail with
// an error wrapping store.ErrClosed; calls in flight may fail with it too.
// Closing a closed Store returns nil.
func (s *Store) Close() error {
	first := false
	s.closeOnce.Do(func() {
		first = true
		s.closed.Store(true)
		if err := s.rdb.Close(); err != nil {
			s.closeErr = fmt.Errorf("redisstore: close: %w", err)
		}
	})
	if !first {
		return nil
	}
	return s.closeErr
}

// ready reports why a call must not start: a done context or a closed Store.
func (s *Store) ready(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.closed.Load() {
		return store.ErrClosed
	}
	return nil
}

// fail wraps err for op, reporting a client closed under a call as
// store.ErrClosed.
func fail(op string, err error) error {
	if errors.Is(err, redis.ErrClosed) {
		err = store.ErrClosed
	}
	return fmt.Errorf("redisstore: %s: %w", op, err)
}
