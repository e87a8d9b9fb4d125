package redisstore

import (
	"context"
	"fmt"
	"hash/fnv"
	"strconv"

	"github.com/redis/go-redis/v9"
)

// The layout of a store under KeyPrefix P (see the package documentation):
//
//	P meta              hash: format (layoutFormat), buckets (the count N)
//	P {T_b} k: KEY      hash: v (version, decimal), t (content type), d (value)
//	P {T_b} i           sorted set: every KEY of bucket b, score 0
//	P {T_b} n           string: bucket b's write counter
//
// KEY goes to bucket b = FNV-1a-32(KEY) mod N, and T_b is bucket b's hash
// tag (see bucketTags), so a key's record, its bucket's index and its
// bucket's counter share one cluster slot and one Lua script can update
// all three atomically. Changing anything here needs a new layoutFormat.
const (
	layoutFormat = "1"
	metaSuffix   = "meta"
	dataInfix    = "}k:"
	indexInfix   = "}i"
	counterInfix = "}n"
)

// Field names of a record hash.
const (
	fieldVersion     = "v"
	fieldContentType = "t"
	fieldValue       = "d"
)

// numSlots is the number of Redis Cluster hash slots.
const numSlots = 16384

// bucketOf returns the bucket of key among n.
func bucketOf(key []byte, n int) int {
	h := fnv.New32a()
	h.Write(key)
	return int(h.Sum32() % uint32(n))
}

// bucketTags returns the hash tag of each of n buckets (1 <= n <= numSlots).
// Bucket b's tag hashes to a slot s with s*n/numSlots == b, so the buckets
// cover the slot space evenly: a cluster whose masters own equal ranges of
// slots, as redis-cli --cluster create makes them, gets an equal share of
// buckets on each master. The tags are the base-36 numerals 0, 1, 2, ...,
// each taken by the first bucket still without a tag whose range holds its
// slot; the choice is deterministic and part of the layout.
func bucketTags(n int) []string {
	tags := make([]string, n)
	for i, left := int64(0), n; left > 0; i++ {
		tag := strconv.FormatInt(i, 36)
		b := int(keySlot(tag)) * n / numSlots
		if tags[b] == "" {
			tags[b] = tag
			left--
		}
	}
	return tags
}

// keySlot returns the Redis Cluster hash slot of key: CRC16 (XMODEM) of
// its hash tag, or of the whole key when it has none, modulo 16384.
func keySlot(key string) uint16 {
	for i := 0; i < len(key); i++ {
		if key[i] != '{' {
			continue
		}
		for j := i + 1; j < len(key); j++ {
			if key[j] == '}' {
				if j > i+1 {
					key = key[i+1 : j]
				}
				return crc16(key) % numSlots
			}
		}
		break
	}
	return crc16(key) % numSlots
}

// crc16 is CRC-16/XMODEM (polynomial 0x1021, initial value 0), the checksum
// Redis Cluster hashes keys with.
func crc16(s string) uint16 {
	var crc uint16
	for i := 0; i < len(s); i++ {
		crc ^= uint16(s[i]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}

// layout names the Redis keys of one store.
type layout struct {
	prefix string
	tags   []string // hash tag of each bucket
}

func newLayout(prefix string, buckets int) layout {
	return layout{prefix: prefix, tags: bucketTags(buckets)}
}

func (l layout) buckets() int { return len(l.tags) }

func (l layout) metaKey() string { return l.prefix + metaSuffix }

func (l layout) dataKey(b int, key []byte) string {
	return l.prefix + "{" + l.tags[b] + dataInfix + string(key)
}

func (l layout) indexKey(b int) string { return l.prefix + "{" + l.tags[b] + indexInfix }

func (l layout) counterKey(b int) string { return l.prefix + "{" + l.tags[b] + counterInfix }

// checkMeta reads the layout marker under the meta key, writing it first
// when the store is new, and returns the bucket count the store uses.
// want is the count asked for, 0 for "whatever the store has, or
// DefaultBuckets for a new one".
func checkMeta(ctx context.Context, rdb redis.UniversalClient, metaKey string, want int) (int, error) {
	create := want
	if create == 0 {
		create = DefaultBuckets
	}
	// HSETNX leaves a marker that is there alone; two Opens racing on a new
	// store agree on whichever bucket count was written first.
	pipe := rdb.TxPipeline()
	pipe.HSetNX(ctx, metaKey, "format", layoutFormat)
	pipe.HSetNX(ctx, metaKey, "buckets", create)
	got := pipe.HMGet(ctx, metaKey, "format", "buckets")
	if _, err := pipe.Exec(ctx); err != nil {
		return 0, err
	}
	vals := got.Val()
	format, _ := vals[0].(string)
	if format != layoutFormat {
		return 0, fmt.Errorf("%w: %s has format %q; this build reads %q", ErrLayout, metaKey, format, layoutFormat)
	}
	s, _ := vals[1].(string)
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > MaxBuckets {
		return 0, fmt.Errorf("%w: %s has bucket count %q", ErrLayout, metaKey, s)
	}
	if want != 0 && want != n {
		return 0, fmt.Errorf("%w: the store under %s has %d buckets; Options.Buckets asks for %d", ErrLayout, metaKey, n, want)
	}
	return n, nil
}
