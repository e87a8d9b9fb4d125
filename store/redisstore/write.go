package redisstore

import (
	"context"
	"fmt"
	"strconv"

	"kvhttp/store"
)

// Put stores value and contentType under key if cond holds, checking and
// writing in one Lua script on the key's master. It fails with an error
// wrapping store.ErrExists (IfAbsent), store.ErrNotFound (IfPresent,
// IfVersion) or store.ErrVersionMismatch (IfVersion), and then changes
// nothing.
//
// A nil error means the master applied the write and, with
// Options.WaitReplicas, that many replicas have it. An error wrapping
// ErrReplicaTimeout means the master applied it (the Result says with
// which version) but the replicas did not confirm it in time. Any other
// error from the network may leave the write applied or not. ctx is
// honoured until the write is sent; then Put waits for the reply.
func (s *Store) Put(ctx context.Context, key, value, contentType []byte, cond store.Cond) (store.Result, error) {
	if err := s.ready(ctx); err != nil {
		return store.Result{}, fail("put", err)
	}
	if err := store.CheckKey(key, contentType); err != nil {
		return store.Result{}, fail("put", err)
	}
	c, err := s.putCall(key, value, contentType, cond)
	if err != nil {
		return store.Result{}, fail("put", err)
	}
	err = s.run(ctx, []*call{c}, false)
	res, cerr := putResult(c)
	if cerr != nil {
		return store.Result{}, fail("put", cerr)
	}
	if err != nil {
		return res, fail("put", err) // applied, but not confirmed by replicas
	}
	return res, nil
}

// Delete removes key if cond holds, checking and deleting in one Lua
// script. Always and IfPresent fail with an error wrapping
// store.ErrNotFound when key is absent; IfVersion as for Put; IfAbsent is
// rejected with store.ErrInvalidCond. Errors mean what they mean for Put.
func (s *Store) Delete(ctx context.Context, key []byte, cond store.Cond) error {
	if err := s.ready(ctx); err != nil {
		return fail("delete", err)
	}
	if len(key) == 0 {
		return fail("delete", store.ErrEmptyKey)
	}
	kind := kindIfPresent // deleting nothing is reported
	switch cond.Kind {
	case store.Always, store.IfPresent:
	case store.IfVersion:
		kind = kindIfVersion
	case store.IfAbsent:
		return fail("delete", fmt.Errorf("IfAbsent would never delete: %w", store.ErrInvalidCond))
	default:
		return fail("delete", fmt.Errorf("unknown condition kind %d: %w", cond.Kind, store.ErrInvalidCond))
	}
	b := bucketOf(key, s.layout.buckets())
	c := &call{
		script: deleteScript,
		keys:   []string{s.layout.dataKey(b, key), s.layout.indexKey(b)},
		args:   []any{kind, strconv.FormatUint(cond.Version, 10), key},
	}
	err := s.run(ctx, []*call{c}, false)
	if c.err != nil {
		return fail("delete", c.err)
	}
	status, ok := c.res.(int64)
	if !ok {
		return fail("delete", fmt.Errorf("unexpected script reply %#v", c.res))
	}
	if err := statusError(status); err != nil {
		return fail("delete", err)
	}
	if err != nil {
		return fail("delete", err)
	}
	return nil
}

// PutAll stores every item unconditionally, each with a new version (the
// items' Version is ignored); a later item with the key of an earlier one
// wins. Items are checked before anything is written. An empty batch
// writes nothing.
//
// On a single server the whole batch is one MULTI/EXEC transaction: all or
// nothing. In a cluster the items go to their masters in one pipeline per
// master, applied item by item: if PutAll fails midway, some items may be
// written and others not (the error says how many were known to be
// applied), and running the same batch again repairs that. With
// Options.WaitReplicas, PutAll waits for replicas once per master.
func (s *Store) PutAll(ctx context.Context, items []store.Item) error {
	if err := s.ready(ctx); err != nil {
		return fail("putall", err)
	}
	for i, it := range items {
		if err := store.CheckKey(it.Key, it.ContentType); err != nil {
			return fail("putall", fmt.Errorf("item %d: %w", i, err))
		}
	}
	if len(items) == 0 {
		return nil
	}
	// Only the last item of each key is written: the ones before it would
	// be overwritten anyway, and this keeps a retried or reordered
	// pipeline from ending on an earlier item.
	last := make(map[string]int, len(items))
	for i, it := range items {
		last[string(it.Key)] = i
	}
	calls := make([]*call, 0, len(last))
	for i, it := range items {
		if last[string(it.Key)] != i {
			continue
		}
		c, err := s.putCall(it.Key, it.Value, it.ContentType, store.Cond{})
		if err != nil {
			return fail("putall", err)
		}
		calls = append(calls, c)
	}
	err := s.run(ctx, calls, s.single != nil)
	applied := 0
	var first error
	for _, c := range calls {
		if _, cerr := putResult(c); cerr != nil {
			if first == nil {
				first = cerr
			}
			continue
		}
		applied++
	}
	if first == nil {
		first = err
	}
	if first != nil {
		return fail("putall", fmt.Errorf("%d of %d items applied: %w", applied, len(calls), first))
	}
	return nil
}

// putCall prepares the script call of a Put.
func (s *Store) putCall(key, value, contentType []byte, cond store.Cond) (*call, error) {
	var kind string
	switch cond.Kind {
	case store.Always:
		kind = kindAlways
	case store.IfAbsent:
		kind = kindIfAbsent
	case store.IfPresent:
		kind = kindIfPresent
	case store.IfVersion:
		kind = kindIfVersion
	default:
		return nil, fmt.Errorf("unknown condition kind %d: %w", cond.Kind, store.ErrInvalidCond)
	}
	n := s.layout.buckets()
	b := bucketOf(key, n)
	return &call{
		script: putScript,
		keys:   []string{s.layout.dataKey(b, key), s.layout.indexKey(b), s.layout.counterKey(b)},
		args:   []any{kind, strconv.FormatUint(cond.Version, 10), n, b, key, contentType, value},
	}, nil
}

// putResult decodes the reply of a put script.
func putResult(c *call) (store.Result, error) {
	if c.err != nil {
		return store.Result{}, c.err
	}
	reply, ok := c.res.([]any)
	if !ok || len(reply) != 2 {
		return store.Result{}, fmt.Errorf("unexpected script reply %#v", c.res)
	}
	status, ok := reply[0].(int64)
	if !ok {
		return store.Result{}, fmt.Errorf("unexpected script status %#v", reply[0])
	}
	if err := statusError(status); err != nil {
		return store.Result{}, err
	}
	vs, _ := reply[1].(string)
	v, err := strconv.ParseUint(vs, 10, 64)
	if err != nil || v == 0 {
		return store.Result{}, fmt.Errorf("unexpected version %#v from the put script", reply[1])
	}
	return store.Result{Version: v, Created: status == statusCreated}, nil
}

// statusError maps a script status to the store's errors.
func statusError(status int64) error {
	switch status {
	case statusUpdated, statusCreated:
		return nil
	case statusExists:
		return store.ErrExists
	case statusNotFound:
		return store.ErrNotFound
	case statusMismatch:
		return store.ErrVersionMismatch
	}
	return fmt.Errorf("unknown script status %d", status)
}
