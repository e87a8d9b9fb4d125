package redisstore

import (
	"bytes"
	"container/heap"
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/redis/go-redis/v9"

	"kvhttp/store"
)

// Get returns the item stored under key, or an error wrapping
// store.ErrNotFound. It reads the key's master (never a replica), so it
// sees every write acknowledged before it started.
//
// It sets buf = append(buf[:0], value...) and then appends the content
// type, so the Item's Value and ContentType are sub-slices of that buffer,
// as with every backend. Item.Key is key itself.
func (s *Store) Get(ctx context.Context, key, buf []byte) (store.Item, error) {
	if err := s.ready(ctx); err != nil {
		return store.Item{}, fail("get", err)
	}
	if len(key) == 0 {
		return store.Item{}, fail("get", store.ErrEmptyKey)
	}
	b := bucketOf(key, s.layout.buckets())
	vals, err := s.rdb.HMGet(ctx, s.layout.dataKey(b, key), fieldVersion, fieldContentType, fieldValue).Result()
	if err != nil {
		return store.Item{}, fail("get", err)
	}
	r, err := decodeRecord(key, vals)
	if err != nil {
		return store.Item{}, fail("get", err)
	}
	buf = append(buf[:0], r.value...)
	buf = append(buf, r.contentType...)
	n := len(r.value)
	return store.Item{Key: key, Value: buf[:n], ContentType: buf[n:], Version: r.version}, nil
}

// record is a decoded record hash.
type record struct {
	version     uint64
	contentType string
	value       string
}

// decodeRecord reads the reply of HMGET v t d. A record without a version
// is absent; one with a version but without the other fields, or with a
// version that is not a number, is reported as store.ErrCorrupt.
func decodeRecord(key []byte, vals []any) (record, error) {
	if len(vals) != 3 || vals[0] == nil {
		return record{}, store.ErrNotFound
	}
	vs, _ := vals[0].(string)
	ct, ok1 := vals[1].(string)
	value, ok2 := vals[2].(string)
	v, err := strconv.ParseUint(vs, 10, 64)
	if err != nil || v == 0 || !ok1 || !ok2 {
		return record{}, fmt.Errorf("record of key %q is incomplete or has version %q: %w", key, vs, store.ErrCorrupt)
	}
	return record{version: v, contentType: ct, value: value}, nil
}

// Listing tuning: how many keys a listing asks each bucket's index for at
// a time, and how many records it reads per round trip.
const (
	minChunk      = 8
	maxChunk      = 512
	unlimitedRead = 256 // chunk when opts.Limit is 0
	recordBatch   = 128
)

// List calls fn for each item selected by opts, in ascending byte order of
// keys. It starts after opts.After (which need not exist), stops at the end
// of opts.Prefix, and stops after opts.Limit items when Limit is positive.
//
// A listing merges the indexes of all buckets (see Listing in the package
// documentation) and then reads the records it passes to fn, one batch at
// a time. It is not a snapshot: each item is as it was when its batch was
// read, and a key deleted in between is left out.
//
// The slices of the Item passed to fn are valid only until fn returns.
// An error from fn stops the listing and is returned unchanged.
func (s *Store) List(ctx context.Context, opts store.ListOptions, fn func(store.Item) error) error {
	if err := s.ready(ctx); err != nil {
		return fail("list", err)
	}
	var fnErr error
	err := s.list(ctx, opts, func(it store.Item) error {
		if err := fn(it); err != nil {
			fnErr = err
			return err
		}
		return nil
	})
	switch {
	case fnErr != nil:
		return fnErr
	case err != nil:
		return fail("list", err)
	}
	return nil
}

func (s *Store) list(ctx context.Context, opts store.ListOptions, fn func(store.Item) error) error {
	// A key is the first key of its own prefix. The API asks for the first
	// item of a prefix to learn a key's version: answer that from the
	// record alone when the key exists, without merging every index.
	if opts.Limit == 1 && len(opts.Prefix) > 0 && bytes.Compare(opts.After, opts.Prefix) < 0 {
		found := false
		err := s.emit(ctx, []string{string(opts.Prefix)}, func(it store.Item) error {
			found = true
			return fn(it)
		})
		if err != nil || found {
			return err
		}
	}
	chunk := int64(unlimitedRead)
	if opts.Limit > 0 {
		chunk = int64(min(max(2*opts.Limit/s.layout.buckets()+minChunk, minChunk), maxChunk))
	}
	m := newMerger(s, opts, chunk)
	left := opts.Limit
	for {
		want := recordBatch
		if opts.Limit > 0 {
			want = min(want, left)
		}
		keys, err := m.next(ctx, want)
		if err != nil || len(keys) == 0 {
			return err
		}
		n := 0
		err = s.emit(ctx, keys, func(it store.Item) error {
			n++
			return fn(it)
		})
		if err != nil {
			return err
		}
		if opts.Limit > 0 {
			if left -= n; left == 0 {
				return nil
			}
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
}

// emit reads the records of keys in one pipeline and calls fn for each
// that exists, in the order of keys. Item slices share one buffer.
func (s *Store) emit(ctx context.Context, keys []string, fn func(store.Item) error) error {
	cmds := make([]*redis.SliceCmd, len(keys))
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, k := range keys {
			b := bucketOf([]byte(k), s.layout.buckets())
			cmds[i] = p.HMGet(ctx, s.layout.dataKey(b, []byte(k)), fieldVersion, fieldContentType, fieldValue)
		}
		return nil
	})
	if err != nil {
		return err
	}
	var buf []byte
	for i, k := range keys {
		r, err := decodeRecord([]byte(k), cmds[i].Val())
		if errors.Is(err, store.ErrNotFound) {
			continue // deleted since the index was read
		}
		if err != nil {
			return err
		}
		buf = append(buf[:0], k...)
		buf = append(buf, r.value...)
		buf = append(buf, r.contentType...)
		kn, vn := len(k), len(k)+len(r.value)
		it := store.Item{Key: buf[:kn:kn], Value: buf[kn:vn:vn], ContentType: buf[vn:], Version: r.version}
		if err := fn(it); err != nil {
			return err
		}
	}
	return nil
}

// lexRange returns the ZRANGEBYLEX bounds of opts: keys with opts.Prefix
// that are greater than opts.After.
func lexRange(opts store.ListOptions) (lo, hi string) {
	switch {
	case len(opts.After) > 0 && bytes.Compare(opts.After, opts.Prefix) >= 0:
		lo = "(" + string(opts.After)
	case len(opts.Prefix) > 0:
		lo = "[" + string(opts.Prefix)
	default:
		lo = "-"
	}
	hi = "+"
	if end, ok := prefixEnd(opts.Prefix); ok {
		hi = "(" + string(end)
	}
	return lo, hi
}

// prefixEnd returns the least byte string greater than every string with
// the given prefix, or false when there is none (an empty prefix, or one
// of 0xff bytes only).
func prefixEnd(prefix []byte) ([]byte, bool) {
	end := bytes.Clone(prefix)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1], true
		}
	}
	return nil, false
}

// A merger walks the keys of all bucket indexes in order: a k-way merge
// over one source per bucket, each refilled chunk by chunk with
// ZRANGEBYLEX. All sources waiting for a refill are refilled in one
// pipeline, which the cluster client splits into one per master.
type merger struct {
	s       *Store
	hi      string
	chunk   int64
	heap    sourceHeap // sources with buffered keys
	pending []*source  // sources with no buffered key that may have more
}

type source struct {
	bucket int
	lo     string   // ZRANGEBYLEX lower bound of the next refill
	keys   []string // buffered keys, ascending
	done   bool     // the index has nothing past keys
}

func newMerger(s *Store, opts store.ListOptions, chunk int64) *merger {
	lo, hi := lexRange(opts)
	m := &merger{s: s, hi: hi, chunk: chunk}
	for b := range s.layout.buckets() {
		m.pending = append(m.pending, &source{bucket: b, lo: lo})
	}
	return m
}

// next returns up to n more keys in ascending order; none at the end.
func (m *merger) next(ctx context.Context, n int) ([]string, error) {
	var out []string
	for len(out) < n {
		if len(m.pending) > 0 {
			if err := m.refill(ctx); err != nil {
				return nil, err
			}
		}
		if len(m.heap) == 0 {
			break
		}
		src := m.heap[0]
		out = append(out, src.keys[0])
		src.keys = src.keys[1:]
		if len(src.keys) > 0 {
			heap.Fix(&m.heap, 0)
			continue
		}
		heap.Pop(&m.heap)
		if !src.done {
			m.pending = append(m.pending, src)
		}
	}
	return out, nil
}

// refill reads the next chunk of every pending source.
func (m *merger) refill(ctx context.Context) error {
	cmds := make([]*redis.StringSliceCmd, len(m.pending))
	_, err := m.s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, src := range m.pending {
			cmds[i] = p.ZRangeByLex(ctx, m.s.layout.indexKey(src.bucket), &redis.ZRangeBy{
				Min: src.lo, Max: m.hi, Count: m.chunk,
			})
		}
		return nil
	})
	if err != nil {
		return err
	}
	for i, src := range m.pending {
		src.keys = cmds[i].Val()
		src.done = int64(len(src.keys)) < m.chunk
		if len(src.keys) > 0 {
			src.lo = "(" + src.keys[len(src.keys)-1]
			heap.Push(&m.heap, src)
		}
	}
	m.pending = m.pending[:0]
	return nil
}

// sourceHeap orders sources by their first buffered key.
type sourceHeap []*source

func (h sourceHeap) Len() int           { return len(h) }
func (h sourceHeap) Less(i, j int) bool { return h[i].keys[0] < h[j].keys[0] }
func (h sourceHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *sourceHeap) Push(x any)        { *h = append(*h, x.(*source)) }
func (h *sourceHeap) Pop() any {
	old := *h
	src := old[len(old)-1]
	*h = old[:len(old)-1]
	return src
}
