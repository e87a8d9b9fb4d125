package boltstore

import (
	"encoding/binary"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/google/btree"
)

// The overlay: writes that are in the log but not yet in bbolt.
//
// The committer answers a writer once its batch is in the log, before
// bbolt has it, so reads must look at those writes first. They are kept in
// memtables: active, which the committer adds each synced batch to, and
// frozen, a former active that the checkpointer is writing to bbolt. A
// read looks in active, then frozen, then bbolt; frozen is dropped only
// after bbolt has committed it, so at every moment one of the three holds
// the latest acknowledged write of every key.
type overlay struct {
	// mu guards the active and frozen pointers and active's tree.
	// frozen's tree is never changed once frozen.
	mu     sync.RWMutex
	active *memtable
	frozen *memtable
	// n counts entries in active and frozen, so that reads skip the
	// overlay, and its lock, while it is empty: the usual case for a
	// read-mostly store.
	n atomic.Int64
	// cloneMu keeps listings from cloning active at the same time
	// (snapshot).
	cloneMu sync.Mutex
}

// memtable holds encoded records by key, in key order; a nil record is a
// delete. Records are never changed once added. The order lets a listing
// walk the writes in its range without gathering and sorting them, and a
// B-tree's lazy clone gives it a snapshot of them for the cost of copying
// a few nodes on the next writes.
type memtable struct {
	t      *btree.BTreeG[entry]
	bytes  int    // keys and records held, to bound memory
	maxSeq uint64 // the version counter after the newest write held
	gen    uint64 // the log segment that holds these writes
}

// entry is one key and its record (nil for a delete). hi and lo hold
// the key's first 16 bytes, big-endian and padded with zeros, so that
// most comparisons are of two integers in the node being searched
// instead of a call that follows the key's pointer elsewhere in memory:
// the committer looks up and inserts every key it writes, and with the
// key bytes out of line those lookups were a tenth of the server's CPU
// under durable PUTs (docs/PERFORMANCE.md). Ordering by (hi, lo) and
// then by key is ordering by key: where padded prefixes differ, they
// differ as the keys do (a zero pad sorts first, as the end of a shorter
// key does).
type entry struct {
	hi, lo uint64
	key    string
	rec    []byte
}

// newEntry returns key's entry with record rec.
func newEntry(key string, rec []byte) entry {
	var b [16]byte
	copy(b[:], key)
	return entry{hi: binary.BigEndian.Uint64(b[:8]), lo: binary.BigEndian.Uint64(b[8:]), key: key, rec: rec}
}

func entryLess(a, b entry) bool {
	if a.hi != b.hi {
		return a.hi < b.hi
	}
	if a.lo != b.lo {
		return a.lo < b.lo
	}
	if len(a.key) <= 16 && len(b.key) <= 16 {
		// Equal prefixes and no more bytes: the shorter key (its pad)
		// is a prefix of the longer, whose extra bytes are zeros.
		return len(a.key) < len(b.key)
	}
	return a.key < b.key
}

// memtableDegree is the B-tree's degree: nodes of 31 to 63 entries.
const memtableDegree = 32

func newMemtable(gen uint64) *memtable {
	return &memtable{t: btree.NewG(memtableDegree, entryLess), gen: gen}
}

// set records rec (nil for a delete) under key. It keeps rec, and copies
// key.
func (mt *memtable) set(key, rec []byte) { mt.put(string(key), rec) }

// put is set with a key that is a string already: kept, not copied.
func (mt *memtable) put(key string, rec []byte) {
	old, replaced := mt.t.ReplaceOrInsert(newEntry(key, rec))
	if replaced {
		mt.bytes -= len(old.rec)
	} else {
		mt.bytes += len(key)
	}
	mt.bytes += len(rec)
}

// get returns key's record (nil for a delete) and whether mt holds one.
func (mt *memtable) get(key []byte) ([]byte, bool) {
	// The key is only compared, never kept: no copy of it is needed.
	e, ok := mt.t.Get(newEntry(unsafe.String(unsafe.SliceData(key), len(key)), nil))
	return e.rec, ok
}

// len returns how many keys mt holds.
func (mt *memtable) len() int { return mt.t.Len() }

// each calls fn with every key and record in key order, until fn returns
// false.
func (mt *memtable) each(fn func(key string, rec []byte) bool) {
	mt.t.Ascend(func(e entry) bool { return fn(e.key, e.rec) })
}

// reset empties mt for reuse.
func (mt *memtable) reset() {
	mt.t.Clear(true)
	mt.bytes, mt.maxSeq = 0, 0
}

// get returns key's entry: its record (nil for a delete) and whether
// there is one.
func (ov *overlay) get(key []byte) ([]byte, bool) {
	if ov.n.Load() == 0 {
		return nil, false
	}
	ov.mu.RLock()
	defer ov.mu.RUnlock()
	if rec, ok := ov.active.get(key); ok {
		return rec, true
	}
	if ov.frozen != nil {
		return ov.frozen.get(key)
	}
	return nil, false
}

// merge moves a synced batch's entries into active.
func (ov *overlay) merge(staged *memtable) {
	if staged.len() == 0 {
		return
	}
	ov.mu.Lock()
	before := ov.active.len()
	staged.t.Ascend(func(e entry) bool {
		ov.active.put(e.key, e.rec)
		return true
	})
	ov.active.maxSeq = max(ov.active.maxSeq, staged.maxSeq)
	ov.n.Add(int64(ov.active.len() - before))
	ov.mu.Unlock()
}

// freeze makes active frozen and starts an empty active for generation
// gen. The caller has checked that nothing is frozen.
func (ov *overlay) freeze(gen uint64) *memtable {
	ov.mu.Lock()
	defer ov.mu.Unlock()
	fz := ov.active
	ov.frozen, ov.active = fz, newMemtable(gen)
	return fz
}

// thaw drops frozen, which bbolt now holds.
func (ov *overlay) thaw() {
	ov.mu.Lock()
	defer ov.mu.Unlock()
	ov.n.Add(-int64(ov.frozen.len()))
	ov.frozen = nil
}

// isFrozen reports whether a checkpoint is under way.
func (ov *overlay) isFrozen() bool {
	ov.mu.RLock()
	defer ov.mu.RUnlock()
	return ov.frozen != nil
}

// view is a listing's snapshot of the overlay: a lazy clone of active,
// which later writes to active do not change, and frozen, which nothing
// changes.
type view struct {
	active, frozen *btree.BTreeG[entry]
}

// snapshot returns the overlay's view, empty if the overlay is. The
// caller holds ov.mu shared: no write to active runs meanwhile, and the
// reads that may (Gets) do not touch what a clone changes; cloneMu keeps
// two listings from cloning at once.
func (ov *overlay) snapshot() view {
	if ov.n.Load() == 0 {
		return view{}
	}
	ov.cloneMu.Lock()
	defer ov.cloneMu.Unlock()
	v := view{active: ov.active.t.Clone()}
	if ov.frozen != nil {
		v.frozen = ov.frozen.t
	}
	return v
}

// ovCursor walks a view's entries in a listing's range in key order,
// active's entry winning over frozen's for a key both hold.
type ovCursor struct {
	a, f treeCursor
}

// newOvCursor returns a cursor over v's entries whose keys have prefix
// and sort after after (all of them for a nil after); nil, which has no
// entries, for an empty view, the usual case.
func newOvCursor(v view, prefix, after []byte) *ovCursor {
	if v.active == nil && v.frozen == nil {
		return nil
	}
	start, skip, hasSkip := string(prefix), "", false
	if after != nil && string(after) >= start {
		start, skip, hasSkip = string(after), string(after), true
	}
	oc := &ovCursor{}
	oc.a = treeCursor{t: v.active, prefix: string(prefix), next: start, skip: skip, hasSkip: hasSkip}
	oc.f = treeCursor{t: v.frozen, prefix: string(prefix), next: start, skip: skip, hasSkip: hasSkip}
	return oc
}

// peek returns the next entry without moving past it; ok is false at
// the end.
func (oc *ovCursor) peek() (e entry, ok bool) {
	if oc == nil {
		return entry{}, false
	}
	a, aok := oc.a.peek()
	f, fok := oc.f.peek()
	switch {
	case !aok:
		return f, fok
	case !fok || a.key <= f.key:
		return a, true
	}
	return f, true
}

// advance moves past the entry peek returned (and past frozen's entry
// for the same key, which active's hides).
func (oc *ovCursor) advance() {
	a, aok := oc.a.peek()
	f, fok := oc.f.peek()
	switch {
	case aok && fok && a.key == f.key:
		oc.a.advance()
		oc.f.advance()
	case aok && (!fok || a.key < f.key):
		oc.a.advance()
	case fok:
		oc.f.advance()
	}
}

// treeCursor walks one B-tree's entries with a prefix from a key on, a
// few at a time: a B-tree walks by callback, and a listing pulls.
type treeCursor struct {
	t       *btree.BTreeG[entry]
	prefix  string
	next    string  // the first key the next refill may return
	skip    string  // a key not to return (a listing's After)
	hasSkip bool    // whether skip is set
	buf     []entry // entries read, not yet passed: a tail of arr
	arr     [treeChunk]entry
	done    bool // no more entries in range
}

// treeChunk is how many entries a treeCursor reads at once.
const treeChunk = 64

func (tc *treeCursor) peek() (entry, bool) {
	for len(tc.buf) == 0 && !tc.done {
		tc.refill()
	}
	if len(tc.buf) == 0 {
		return entry{}, false
	}
	return tc.buf[0], true
}

func (tc *treeCursor) advance() { tc.buf = tc.buf[1:] }

// refill reads the next chunk of entries in range.
func (tc *treeCursor) refill() {
	if tc.t == nil {
		tc.done = true
		return
	}
	tc.buf = tc.arr[:0]
	last, n := "", 0
	tc.t.AscendGreaterOrEqual(newEntry(tc.next, nil), func(e entry) bool {
		if !strings.HasPrefix(e.key, tc.prefix) {
			tc.done = true
			return false
		}
		if n == treeChunk {
			return false
		}
		last, n = e.key, n+1
		if tc.hasSkip && e.key == tc.skip {
			return true
		}
		tc.buf = append(tc.buf, e)
		return true
	})
	if n < treeChunk {
		tc.done = true
	}
	if n > 0 {
		tc.next = last + "\x00" // the least key after last
	}
}

// mergeCursor walks a sorted key-record sequence (bbolt's) and the
// overlay's entries together, the overlay's entry winning for a key both
// hold, and skipping deletes.
type mergeCursor struct {
	ov   *ovCursor
	next func() ([]byte, []byte) // bbolt's next key and record, nil at the end
	k, v []byte                  // bbolt's current pair
}

// item returns the next key and record, or a nil key at the end.
func (mc *mergeCursor) item() ([]byte, []byte) {
	for {
		e, ok := mc.ov.peek()
		switch {
		case mc.k == nil && !ok:
			return nil, nil
		case !ok || (mc.k != nil && string(mc.k) < e.key):
			k, v := mc.k, mc.v
			mc.k, mc.v = mc.next()
			return k, v
		}
		mc.ov.advance()
		if mc.k != nil && string(mc.k) == e.key {
			mc.k, mc.v = mc.next() // shadowed
		}
		if e.rec != nil {
			return []byte(e.key), e.rec
		}
	}
}
