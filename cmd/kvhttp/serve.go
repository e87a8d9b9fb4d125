package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"kvhttp/api"
	"kvhttp/server"
	"kvhttp/store/boltstore"
	"kvhttp/store/redisstore"
	"kvhttp/wire"
)

var _ api.Store = (*boltstore.Store)(nil)

// redisPasswordEnv names the variable that holds the Redis password, kept
// out of the command line where any user could read it.
const redisPasswordEnv = "KVHTTP_REDIS_PASSWORD"

// shutdownGrace bounds a graceful shutdown before connections are cut.
const shutdownGrace = 30 * time.Second

func newServeCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the server on the embedded store or on Redis",
		Long: `Run the server, keeping data in a bbolt file in the data folder.
Every write is on disk before it is acknowledged. With --store redis, data
lives in Redis or a Redis Cluster instead (see docs/SCALING.md; the
password, if any, comes from $` + redisPasswordEnv + `). SIGINT or SIGTERM
stop the server gracefully: no new connections, requests in progress
finish, then the store is closed.`,
		Args: args(0),
		RunE: serve,
	}
	f := cmd.Flags()
	f.String("store", "bolt", "storage backend: bolt (embedded, in --data) or redis")
	f.String("data", "./data", "data folder (created if missing)")
	f.Duration("checkpoint-every", boltstore.DefaultCheckpointEvery, "longest that logged writes wait to be moved into the data file; sooner at 64 MiB of log or 4 MiB of writes (--store bolt)")
	f.String("redis-addrs", redisstore.DefaultAddr, "Redis server, or comma-separated cluster nodes (--store redis)")
	f.Int("redis-wait-replicas", 0, "acknowledge a write once this many replicas have it (Redis WAIT; --store redis)")
	f.Int64("max-body", wire.DefaultMaxBodyBytes, "largest request body in bytes, such as an import (413 beyond)")
	f.Int("max-key", api.DefaultMaxKeyBytes, "longest key in bytes")
	f.Int("max-value", api.DefaultMaxValueBytes, "largest value in bytes (413 beyond)")
	f.Int("list-limit", api.DefaultListLimit, "keys per listing page when the client names no limit")
	f.Int("max-list-limit", api.DefaultMaxListLimit, "most keys per listing page a client may ask for")
	f.Int("max-conns", server.DefaultMaxConns, "most concurrent connections (503 beyond)")
	f.Int64("max-body-memory", api.DefaultMaxBodyMemory, "most bytes of request bodies held in memory at once, all connections together (503 beyond)")
	f.String("cpuprofile", "", "write a CPU profile of the whole run to this file (for go tool pprof)")
	return cmd
}

func serve(cmd *cobra.Command, _ []string) error {
	f := cmd.Flags()
	addr, _ := f.GetString("addr")
	dir, _ := f.GetString("data")
	maxBody, _ := f.GetInt64("max-body")
	maxKey, _ := f.GetInt("max-key")
	maxValue, _ := f.GetInt("max-value")
	listLimit, _ := f.GetInt("list-limit")
	maxListLimit, _ := f.GetInt("max-list-limit")
	maxConns, _ := f.GetInt("max-conns")
	maxBodyMemory, _ := f.GetInt64("max-body-memory")
	cpuprofile, _ := f.GetString("cpuprofile")
	// A value travels as a body, so the body limit is raised to the value
	// limit, unless --max-body was given: then the two disagree.
	if maxBodyMemory <= int64(maxValue) {
		return usageError{fmt.Errorf("--max-body-memory %d is not above --max-value %d: the largest value could never be held to store it", maxBodyMemory, maxValue)}
	}
	if f.Changed("max-body") && maxBody < int64(maxValue) {
		return usageError{fmt.Errorf("--max-body %d is below --max-value %d, and a value travels as a body: lower --max-value too", maxBody, maxValue)}
	}
	log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), nil))
	if cpuprofile != "" {
		stopProfile, err := startCPUProfile(cpuprofile)
		if err != nil {
			return err
		}
		defer stopProfile()
	}

	st, where, err := openStore(cmd, dir)
	if err != nil {
		return err // locked, unreadable or unreachable: refuse to start, touch nothing
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		st.Close()
		return err
	}
	srv := &server.Server{
		Handler: api.New(st, api.Options{
			MaxKeyBytes: maxKey, MaxValueBytes: maxValue,
			ListLimit: listLimit, MaxListLimit: maxListLimit, MaxBodyMemory: maxBodyMemory, Logger: log,
		}),
		// A value travels as a body: the body limit must let it through.
		Limits:   wire.Limits{MaxBodyBytes: max(maxBody, int64(maxValue))},
		MaxConns: maxConns,
		Logger:   log,
	}
	ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	log.Info("serving", append([]any{"addr", l.Addr().String()}, where...)...)

	select {
	case err = <-served: // the listener failed
	case <-ctx.Done():
		log.Info("shutting down; a second signal closes the connections at once")
		sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
		again := make(chan os.Signal, 1)
		signal.Notify(again, syscall.SIGINT, syscall.SIGTERM)
		hurried := make(chan bool, 1)
		go func() { // ends with Shutdown, at the latest
			select {
			case <-again:
				log.Info("second signal: closing the connections")
				hurried <- true
				cancel()
			case <-sctx.Done():
				hurried <- false
			}
		}()
		err = srv.Shutdown(sctx)
		cancel()
		signal.Stop(again)
		if err != nil {
			srv.Close()
			if <-hurried {
				err = nil // the operator asked to cut requests short
			}
		}
		if serr := <-served; !errors.Is(serr, server.ErrServerClosed) {
			err = serr
		}
	}
	if cerr := st.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("closing the store: %w", cerr)
	}
	if err == nil {
		log.Info("stopped")
	}
	return err
}

// openStore opens the backend that --store names and returns it with the
// attributes that say where its data is, for the log.
func openStore(cmd *cobra.Command, dir string) (api.Store, []any, error) {
	f := cmd.Flags()
	kind, _ := f.GetString("store")
	// A flag of the other backend would be ignored: say so instead.
	for _, name := range []string{"data", "checkpoint-every", "redis-addrs", "redis-wait-replicas"} {
		if f.Changed(name) && strings.HasPrefix(name, "redis") != (kind == "redis") {
			return nil, nil, usageError{fmt.Errorf("--%s does not apply to --store %s", name, kind)}
		}
	}
	switch kind {
	case "bolt":
		every, _ := f.GetDuration("checkpoint-every")
		st, err := boltstore.Open(dir, &boltstore.Options{CheckpointEvery: every})
		if err != nil {
			return nil, nil, err
		}
		return st, []any{"data", st.Path()}, nil
	case "redis":
		addrs, _ := f.GetString("redis-addrs")
		replicas, _ := f.GetInt("redis-wait-replicas")
		if replicas < 0 {
			return nil, nil, usageError{fmt.Errorf("--redis-wait-replicas %d: want 0 or more", replicas)}
		}
		st, err := redisstore.Open(cmd.Context(), redisstore.Options{
			Addrs:        strings.Split(addrs, ","),
			Password:     os.Getenv(redisPasswordEnv),
			WaitReplicas: replicas,
		})
		if err != nil {
			return nil, nil, err
		}
		return st, []any{"store", "redis", "redis-addrs", addrs, "cluster", st.Cluster()}, nil
	default:
		return nil, nil, usageError{fmt.Errorf("--store %q: want bolt or redis", kind)}
	}
}

// startCPUProfile profiles the process into path until the returned
// function is called.
func startCPUProfile(path string) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}
