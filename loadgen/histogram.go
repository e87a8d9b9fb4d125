package loadgen

import (
	"math/bits"
	"time"
)

// subBuckets per power of two: each bucket is at most 1/64 (about 1.6%)
// wide, so percentiles are that precise, in fixed memory.
const (
	subBits     = 6
	subBuckets  = 1 << subBits
	maxExponent = 40 // 2^46 ns, about 19 hours: nothing waits longer
	bucketCount = (maxExponent + 1) * subBuckets
)

// Histogram counts durations in log-linear buckets. The zero value is
// empty and ready; it is not safe for concurrent use (give each worker its
// own and Merge them).
type Histogram struct {
	counts [bucketCount]uint64
	n      uint64
	max    time.Duration
}

// bucket returns the bucket of a duration in nanoseconds: values under
// subBuckets are exact; above, the top subBits bits below the leading one
// pick the bucket.
func bucket(ns uint64) int {
	if ns < subBuckets {
		return int(ns)
	}
	e := bits.Len64(ns) - subBits - 1
	if e > maxExponent-1 {
		return bucketCount - 1
	}
	return (e+1)*subBuckets + int(ns>>e) - subBuckets
}

// upper returns the largest duration bucket i holds.
func upper(i int) time.Duration {
	if i < subBuckets {
		return time.Duration(i)
	}
	e := i/subBuckets - 1
	sub := uint64(i%subBuckets + subBuckets)
	return time.Duration((sub+1)<<e - 1)
}

// Record counts one duration.
func (h *Histogram) Record(d time.Duration) {
	if d < 0 {
		d = 0
	}
	h.counts[bucket(uint64(d))]++
	h.n++
	h.max = max(h.max, d)
}

// Merge adds o's counts to h.
func (h *Histogram) Merge(o *Histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.max = max(h.max, o.max)
}

// Count returns how many durations were recorded.
func (h *Histogram) Count() uint64 { return h.n }

// Max returns the longest duration recorded.
func (h *Histogram) Max() time.Duration { return h.max }

// Quantile returns the duration q (0 to 1) of the recorded ones are at or
// below, rounded up to its bucket's bound (never above Max).
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(q*float64(h.n) + 0.5)
	rank = min(max(rank, 1), h.n)
	var seen uint64
	for i, c := range h.counts {
		if seen += c; seen >= rank {
			return min(upper(i), h.max)
		}
	}
	return h.max
}
