package boltstore

import (
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"kvhttp/store"
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
	// mu guards the active and frozen pointers and active's map. frozen's
	// map is never changed once frozen.
	mu     sync.RWMutex
	active *memtable
	frozen *memtable
	// n counts entries in active and frozen, so that reads skip the
	// overlay, and its lock, while it is empty: the usual case for a
	// read-mostly store.
	n atomic.Int64
}

// memtable maps keys to encoded records; a nil record is a delete.
// Records are never changed once added.
type memtable struct {
	m      map[string][]byte
	bytes  int    // keys and records held, to bound memory
	maxSeq uint64 // the version counter after the newest write held
	gen    uint64 // the log segment that holds these writes
}

func newMemtable(gen uint64) *memtable {
	return &memtable{m: make(map[string][]byte), gen: gen}
}

// set records rec (nil for a delete) under key. It keeps rec, and copies
// key.
func (mt *memtable) set(key, rec []byte) {
	if old, ok := mt.m[string(key)]; ok {
		mt.bytes -= len(old)
	} else {
		mt.bytes += len(key)
	}
	mt.m[string(key)] = rec
	mt.bytes += len(rec)
}

// get returns key's entry: its record (nil for a delete) and whether
// there is one.
func (ov *overlay) get(key []byte) ([]byte, bool) {
	if ov.n.Load() == 0 {
		return nil, false
	}
	ov.mu.RLock()
	defer ov.mu.RUnlock()
	if rec, ok := ov.active.m[string(key)]; ok {
		return rec, true
	}
	if ov.frozen != nil {
		if rec, ok := ov.frozen.m[string(key)]; ok {
			return rec, true
		}
	}
	return nil, false
}

// merge moves a synced batch's entries into active.
func (ov *overlay) merge(staged *memtable) {
	if len(staged.m) == 0 {
		return
	}
	ov.mu.Lock()
	before := len(ov.active.m)
	for k, rec := range staged.m {
		ov.active.set([]byte(k), rec)
	}
	ov.active.maxSeq = max(ov.active.maxSeq, staged.maxSeq)
	ov.n.Add(int64(len(ov.active.m) - before))
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
	ov.n.Add(-int64(len(ov.frozen.m)))
	ov.frozen = nil
}

// isFrozen reports whether a checkpoint is under way.
func (ov *overlay) isFrozen() bool {
	ov.mu.RLock()
	defer ov.mu.RUnlock()
	return ov.frozen != nil
}

// entry is one overlay entry selected for a listing.
type entry struct {
	key string
	rec []byte // nil for a delete
}

// collect returns the overlay's entries that a listing with opts may
// show (ignoring Limit), sorted by key, active's winning over frozen's.
// The caller holds ov.mu shared.
func (ov *overlay) collect(opts store.ListOptions) []entry {
	if ov.n.Load() == 0 {
		return nil
	}
	var out []entry
	pick := func(mt *memtable, skip map[string][]byte) {
		for k, rec := range mt.m {
			if !strings.HasPrefix(k, string(opts.Prefix)) || (opts.After != nil && k <= string(opts.After)) {
				continue
			}
			if _, ok := skip[k]; ok {
				continue
			}
			out = append(out, entry{k, rec})
		}
	}
	pick(ov.active, nil)
	if ov.frozen != nil {
		pick(ov.frozen, ov.active.m)
	}
	slices.SortFunc(out, func(a, b entry) int { return strings.Compare(a.key, b.key) })
	return out
}

// mergeCursor walks a sorted key-record sequence (bbolt's) and the
// overlay's entries together, the overlay's entry winning for a key both
// hold, and skipping deletes.
type mergeCursor struct {
	ov   []entry
	next func() ([]byte, []byte) // bbolt's next key and record, nil at the end
	k, v []byte                  // bbolt's current pair
}

// item returns the next key and record, or a nil key at the end.
func (mc *mergeCursor) item() ([]byte, []byte) {
	for {
		switch {
		case mc.k == nil && len(mc.ov) == 0:
			return nil, nil
		case len(mc.ov) == 0 || (mc.k != nil && string(mc.k) < mc.ov[0].key):
			k, v := mc.k, mc.v
			mc.k, mc.v = mc.next()
			return k, v
		}
		e := mc.ov[0]
		mc.ov = mc.ov[1:]
		if mc.k != nil && string(mc.k) == e.key {
			mc.k, mc.v = mc.next() // shadowed
		}
		if e.rec != nil {
			return []byte(e.key), e.rec
		}
	}
}
