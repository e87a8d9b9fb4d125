//go:build crash

package crashtest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"kvhttp/client"
	"kvhttp/wire"
)

// numCounters is how many shared counters the counter writers increment.
const numCounters = 8

// counterKey names counter i.
func counterKey(i int) string { return "counter-" + strconv.Itoa(i) }

// parseCounterKey returns the number of a counter's key.
func parseCounterKey(key string) (int, bool) {
	s, ok := strings.CutPrefix(key, "counter-")
	if !ok {
		return 0, false
	}
	i, err := strconv.Atoi(s)
	if err != nil || i < 0 || i >= numCounters || counterKey(i) != key {
		return 0, false
	}
	return i, true
}

// A runID names the unique keys one writer sent in one life.
type runID struct{ writer, life int }

// uniqueKey names key seq of a run.
func uniqueKey(id runID, seq int) string {
	return fmt.Sprintf("w%d-%d-%d", id.writer, id.life, seq)
}

// parseUniqueKey splits a key that uniqueKey made.
func parseUniqueKey(key string) (runID, int, bool) {
	s, ok := strings.CutPrefix(key, "w")
	if !ok {
		return runID{}, 0, false
	}
	parts := strings.Split(s, "-")
	if len(parts) != 3 {
		return runID{}, 0, false
	}
	var n [3]int
	for i, p := range parts {
		v, err := strconv.Atoi(p)
		if err != nil || v < 0 {
			return runID{}, 0, false
		}
		n[i] = v
	}
	id := runID{writer: n[0], life: n[1]}
	if uniqueKey(id, n[2]) != key {
		return runID{}, 0, false // not in canonical form, so never sent
	}
	return id, n[2], true
}

// seal returns the value written under key for payload: the payload, a
// colon and the first 16 hex digits of SHA-256 over key, a zero byte and
// payload. A unique key's payload is the key itself; a counter's is its
// decimal value. A value cut short, torn or moved to another key fails
// unseal.
func seal(key, payload string) []byte {
	sum := sha256.Sum256([]byte(key + "\x00" + payload))
	return []byte(payload + ":" + hex.EncodeToString(sum[:])[:16])
}

// unseal returns the payload of a value that seal made for key, and
// whether its checksum holds.
func unseal(key string, value []byte) (string, bool) {
	i := strings.LastIndexByte(string(value), ':')
	if i < 0 {
		return "", false
	}
	payload := string(value[:i])
	return payload, string(seal(key, payload)) == string(value)
}

// counterValue reads a counter's value.
func counterValue(key string, value []byte) (int64, error) {
	payload, ok := unseal(key, value)
	if !ok {
		return 0, fmt.Errorf("%s holds %q, which fails its checksum", key, value)
	}
	n, err := strconv.ParseInt(payload, 10, 64)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("%s holds %q, not a count", key, value)
	}
	return n, nil
}

// parseETag returns the version a strong ETag holds.
func parseETag(etag string) (uint64, error) {
	s, open := strings.CutPrefix(etag, `"`)
	s, closed := strings.CutSuffix(s, `"`)
	if !open || !closed {
		return 0, fmt.Errorf("ETag %q is not a strong entity tag", etag)
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil || v == 0 {
		return 0, fmt.Errorf("ETag %q does not hold a version", etag)
	}
	return v, nil
}

// A ledger is what the writers sent and were told, over all lives.
type ledger struct {
	mu       sync.Mutex
	runs     map[runID]*run
	counters [numCounters]counterLedger
	// floor is the highest version acknowledged before the current life:
	// every version acknowledged now must be above it.
	floor uint64
	// lostKeys holds the acknowledged unique keys a check found missing or
	// wrong; lostIncrements, per counter, the most acknowledged increments
	// a check found missing. Each lost write counts once, however many
	// checks find it lost.
	lostKeys       map[string]bool
	lostIncrements [numCounters]int64
	// acked holds every version acknowledged, with its key: the store
	// draws versions from one counter, so no two writes share one.
	acked map[uint64]string
}

// A run is the unique keys one writer sent in one life, in order:
// uniqueKey(id, seq) for seq below sent. A writer sends a key only once
// the previous one was acknowledged, so keys 0 to len(versions)-1 were
// acknowledged, with these versions, and sent is len(versions) or, when
// the last key got no answer, one more. Its writer alone touches it until
// the life ends.
type run struct {
	sent     int
	versions []uint64
}

// A counterLedger is what the counter writers know of one counter. Every
// increment applied adds exactly one to it (compare-and-swap from the
// value read), so its value lies between max and acked+inDoubt.
type counterLedger struct {
	max     int64 // the highest value acknowledged
	acked   int64 // increments acknowledged
	inDoubt int64 // increments sent that got no answer
}

func newLedger() *ledger {
	return &ledger{runs: make(map[runID]*run), lostKeys: make(map[string]bool), acked: make(map[uint64]string)}
}

// lost returns how many acknowledged writes the checks so far found lost.
func (l *ledger) lost() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := len(l.lostKeys)
	for _, c := range l.lostIncrements {
		n += int(c)
	}
	return n
}

// newRun records the start of a run.
func (l *ledger) newRun(id runID) *run {
	r := &run{}
	l.mu.Lock()
	l.runs[id] = r
	l.mu.Unlock()
	return r
}

// ackIncrement records an increment of counter i to value that the server
// acknowledged.
func (l *ledger) ackIncrement(i int, value int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	c := &l.counters[i]
	c.acked++
	c.max = max(c.max, value)
}

// doubtIncrement records an increment of counter i that got no answer.
func (l *ledger) doubtIncrement(i int) {
	l.mu.Lock()
	l.counters[i].inDoubt++
	l.mu.Unlock()
}

// A load is the writers' side of one life of the server.
type load struct {
	life   int
	ledger *ledger
	floor  uint64 // the ledger's floor when the life began
	rep    *reporter
	// killed is set before the server is sent SIGKILL: a failed exchange
	// while it is unset is the server's fault.
	killed atomic.Bool

	acked, inDoubt, errs, bad atomic.Int64
	maxVersion                atomic.Uint64
}

// put sends one PUT, with an optional condition field, and returns the
// response. It uses Pipeline, which is never retried: a PUT that got no
// answer was sent once, so a compare-and-swap in doubt cannot also be
// resent and refused, which would hide that it was applied.
func put(ctx context.Context, c *client.Client, key string, value []byte, cond, etag string) (*client.Response, error) {
	req := &client.Request{Method: wire.MethodPut, Target: "/kv/" + key, Body: value}
	if cond != "" {
		req.Header.Add(cond, etag)
	}
	resps, err := c.Pipeline(ctx, []*client.Request{req})
	if err != nil {
		return nil, err
	}
	return resps[0], nil
}

// writeUnique writes the keys of one run, one after the other, until an
// exchange fails.
func (ld *load) writeUnique(ctx context.Context, c *client.Client, writer int) {
	id := runID{writer: writer, life: ld.life}
	r := ld.ledger.newRun(id)
	for seq := 0; ctx.Err() == nil; seq++ {
		key := uniqueKey(id, seq)
		r.sent++
		resp, err := put(ctx, c, key, seal(key, key), "", "")
		if err != nil {
			ld.noAnswer(ctx, "PUT "+key, err)
			return
		}
		if resp.Status != http.StatusCreated {
			ld.errorf("life %d: PUT %s: got status %d; want %d", ld.life, key, resp.Status, http.StatusCreated)
			return
		}
		v, ok := ld.ack(key, resp)
		if !ok {
			return
		}
		r.versions = append(r.versions, v)
	}
}

// incrementCounters increments random counters by compare-and-swap until
// an exchange fails.
func (ld *load) incrementCounters(ctx context.Context, c *client.Client, rng *rand.Rand) {
	for ctx.Err() == nil {
		i := rng.IntN(numCounters)
		key := counterKey(i)
		var cur int64
		cond, etag := "If-None-Match", "*"
		it, err := c.Get(ctx, key)
		switch {
		case errors.Is(err, client.ErrNotFound):
		case err != nil:
			if ld.serverFault(ctx, err) {
				ld.errorf("life %d: GET %s while the server was up: %v", ld.life, key, err)
			}
			return
		default:
			if cur, err = counterValue(key, it.Value); err != nil {
				ld.bad.Add(1)
				ld.rep.errorf("life %d: GET: %v", ld.life, err)
				return
			}
			cond, etag = "If-Match", it.ETag
		}
		resp, err := put(ctx, c, key, seal(key, strconv.FormatInt(cur+1, 10)), cond, etag)
		if err != nil {
			ld.ledger.doubtIncrement(i)
			ld.noAnswer(ctx, "PUT "+key, err)
			return
		}
		switch resp.Status {
		case http.StatusCreated, http.StatusNoContent:
			v, ok := ld.ack(key, resp)
			if !ok {
				return
			}
			if prev, err := parseETag(etag); cond == "If-Match" && err == nil && v <= prev {
				ld.bad.Add(1)
				ld.rep.errorf("life %d: PUT %s with If-Match %s: got version %d; want a newer one", ld.life, key, etag, v)
			}
			ld.ledger.ackIncrement(i, cur+1)
		case http.StatusPreconditionFailed:
			// Another writer got there first; nothing was written.
		default:
			ld.errorf("life %d: PUT %s with %s: %s: got status %d; want 201, 204 or 412", ld.life, key, cond, etag, resp.Status)
			return
		}
	}
}

// ack counts an acknowledged write and returns the version its ETag
// holds, which must be above every version acknowledged in earlier lives.
func (ld *load) ack(key string, resp *client.Response) (uint64, bool) {
	v, err := parseETag(string(resp.Header.Get("ETag")))
	if err != nil {
		ld.errorf("life %d: PUT %s: %v", ld.life, key, err)
		return 0, false
	}
	ld.acked.Add(1)
	ld.ledger.mu.Lock()
	other, dup := ld.ledger.acked[v]
	ld.ledger.acked[v] = key
	ld.ledger.mu.Unlock()
	if dup {
		ld.bad.Add(1)
		ld.rep.errorf("life %d: PUT %s: got version %d, acknowledged already for %s", ld.life, key, v, other)
	}
	if v <= ld.floor {
		ld.bad.Add(1)
		ld.rep.errorf("life %d: PUT %s: got version %d; want above %d, acknowledged before a crash", ld.life, key, v, ld.floor)
	}
	for {
		m := ld.maxVersion.Load()
		if v <= m || ld.maxVersion.CompareAndSwap(m, v) {
			break
		}
	}
	return v, true
}

// noAnswer records a write that was sent and got no answer. Once the
// server has been killed that is expected: the write is in doubt. Before,
// it is also an error.
func (ld *load) noAnswer(ctx context.Context, what string, err error) {
	ld.inDoubt.Add(1)
	if ld.serverFault(ctx, err) {
		ld.errorf("life %d: %s while the server was up: %v", ld.life, what, err)
	}
}

// serverFault reports whether a failed exchange is the server's fault:
// it failed before the kill, and not because the test's deadline passed
// (the client may see its connection's deadline a moment before ctx
// reports it).
func (ld *load) serverFault(ctx context.Context, err error) bool {
	return !ld.killed.Load() && ctx.Err() == nil &&
		!errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled)
}

// errorf reports a failure of the exchange itself.
func (ld *load) errorf(format string, args ...any) {
	ld.errs.Add(1)
	ld.rep.errorf(format, args...)
}

// A reporter reports problems through t.Errorf, from any goroutine, up to
// maxReports of them: one failure can cause thousands.
type reporter struct {
	t  *testing.T
	mu sync.Mutex
	n  int
}

const maxReports = 30

func (r *reporter) errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.n++
	switch {
	case r.n <= maxReports:
		r.t.Errorf(format, args...)
	case r.n == maxReports+1:
		r.t.Errorf("(further problems not shown)")
	}
}
