package redisstore

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Writes go to the master of their key directly, on one connection per
// master and batch: the script calls, then WAIT when Options.WaitReplicas
// is set. WAIT counts the replicas that have everything the connection
// it is sent on wrote, so it must follow the writes on their own
// connection; a cluster client would send it to any node.
//
// Going around the cluster client's redirect handling also keeps writes
// from being retried blindly: a write is sent again only after an error
// that proves Redis did not run it (retryable), for at most retryFor.

const (
	retryFor      = 5 * time.Second
	minRetryDelay = 10 * time.Millisecond
	maxRetryDelay = 250 * time.Millisecond
)

// A call is one run of a script on the master of its first key.
type call struct {
	script *redis.Script
	keys   []string
	args   []any

	res any   // the script's reply, set by run
	err error // set by run: the call's own error
}

// run runs calls on the masters of their keys and sets each call's res
// and err. With atomic set (single-node mode only) they run in one
// MULTI/EXEC transaction. The error returned is not any call's own: it
// reports that replicas did not confirm calls that were applied.
func (s *Store) run(ctx context.Context, calls []*call, atomic bool) error {
	pending := calls
	deadline := time.Now().Add(retryFor)
	delay := minRetryDelay
	var (
		mu      sync.Mutex
		waitErr error
	)
	for round := 0; ; round++ {
		groups, err := s.groupByMaster(ctx, pending)
		if err != nil {
			for _, c := range pending {
				c.res, c.err = nil, err
			}
			return waitErr
		}
		var retry []*call
		redirected := false
		runGroup := func(node *redis.Client, cs []*call) {
			werr := s.runOn(ctx, node, cs, atomic)
			var loadErr error
			if slices.ContainsFunc(cs, func(c *call) bool { return redis.HasErrorPrefix(c.err, "NOSCRIPT") }) {
				loadErr = loadOn(ctx, node) // the node lost its scripts: restarted, or new
			}
			mu.Lock()
			defer mu.Unlock()
			if werr != nil && waitErr == nil {
				waitErr = werr
			}
			for _, c := range cs {
				switch {
				case redis.HasErrorPrefix(c.err, "NOSCRIPT") && loadErr != nil:
					c.err = loadErr
				case redis.HasErrorPrefix(c.err, "NOSCRIPT"):
					retry = append(retry, c)
				case retryable(c.err):
					redirected = true
					retry = append(retry, c)
				}
			}
		}
		if len(groups) == 1 {
			for node, cs := range groups {
				runGroup(node, cs)
			}
		} else {
			var wg sync.WaitGroup
			for node, cs := range groups {
				wg.Go(func() { runGroup(node, cs) })
			}
			wg.Wait()
		}
		if len(retry) == 0 {
			return waitErr
		}
		if time.Now().After(deadline) {
			for _, c := range retry {
				c.err = fmt.Errorf("%w for %v: %w", ErrRedirect, retryFor, c.err)
			}
			return waitErr
		}
		// A NOSCRIPT answered by loading the scripts is retried at once,
		// the first time; anything else after a pause.
		if redirected && s.cluster != nil {
			s.cluster.ReloadState(ctx)
		}
		if redirected || round > 0 {
			if err := sleep(ctx, delay); err != nil {
				for _, c := range retry {
					c.err = err // not applied
				}
				return waitErr
			}
			delay = min(2*delay, maxRetryDelay)
		}
		pending = retry
	}
}

// groupByMaster sorts calls by the master of their first key.
func (s *Store) groupByMaster(ctx context.Context, calls []*call) (map[*redis.Client][]*call, error) {
	if s.single != nil {
		return map[*redis.Client][]*call{s.single: calls}, nil
	}
	groups := make(map[*redis.Client][]*call)
	for _, c := range calls {
		node, err := s.cluster.MasterForKey(ctx, c.keys[0])
		if err != nil {
			return nil, err
		}
		groups[node] = append(groups[node], c)
	}
	return groups, nil
}

// runOn sends calls to node in one pipeline (a transaction when atomic)
// on one connection, followed by WAIT when the store waits for replicas,
// and sets each call's res and err. It returns an error wrapping
// ErrReplicaTimeout when some call was applied and WAIT fell short.
func (s *Store) runOn(ctx context.Context, node *redis.Client, calls []*call, atomic bool) error {
	cmds := make([]*redis.Cmd, len(calls))
	queue := func(p redis.Pipeliner) error {
		for i, c := range calls {
			cmds[i] = c.script.EvalSha(ctx, p, c.keys, c.args...)
		}
		return nil
	}
	var (
		wait *redis.Cmd
		conn *redis.Conn // the transaction's connection, when WAIT follows it
	)
	switch {
	case atomic && s.waitReplicas > 0:
		conn = node.Conn()
		defer conn.Close()
		conn.TxPipelined(ctx, queue)
	case atomic:
		node.TxPipelined(ctx, queue)
	default:
		node.Pipelined(ctx, func(p redis.Pipeliner) error {
			queue(p)
			if s.waitReplicas > 0 {
				wait = p.Do(ctx, "wait", s.waitReplicas, s.waitMillis())
			}
			return nil
		})
	}
	applied := false
	for i, c := range calls {
		c.res, c.err = cmds[i].Result()
		applied = applied || c.err == nil
	}
	if conn != nil && applied {
		wait = conn.Do(ctx, "wait", s.waitReplicas, s.waitMillis())
	}
	if wait == nil || !applied {
		return nil
	}
	n, err := wait.Int64()
	switch {
	case err != nil:
		return fmt.Errorf("%w: WAIT on %s: %w", ErrReplicaTimeout, node.Options().Addr, err)
	case n < int64(s.waitReplicas):
		return fmt.Errorf("%w: %d of %d replicas of %s within %v", ErrReplicaTimeout, n, s.waitReplicas, node.Options().Addr, s.waitTimeout)
	}
	return nil
}

// waitMillis is WAIT's timeout argument: at least 1, as 0 would wait
// forever. (A pipeline's replies, WAIT's among them, are read under the
// connection's read timeout, which Open sets above WaitTimeout.)
func (s *Store) waitMillis() int64 { return max(1, s.waitTimeout.Milliseconds()) }

// loadOn loads the scripts on node, which answered NOSCRIPT.
func loadOn(ctx context.Context, node *redis.Client) error {
	for _, sc := range scripts {
		if err := sc.Load(ctx, node).Err(); err != nil {
			return fmt.Errorf("reloading scripts on %s: %w", node.Options().Addr, err)
		}
	}
	return nil
}

// retryable reports whether err proves that Redis did not run the command:
// a redirect or refusal by a node that is not (or not yet, or no longer)
// the key's master, or a connection that could not be made.
func retryable(err error) bool {
	if err == nil {
		return false
	}
	for _, p := range []string{"MOVED", "ASK", "TRYAGAIN", "CLUSTERDOWN", "READONLY", "LOADING", "MASTERDOWN"} {
		if redis.HasErrorPrefix(err, p) {
			return true
		}
	}
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// sleep waits for d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
