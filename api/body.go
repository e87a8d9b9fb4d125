package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"golang.org/x/sync/semaphore"

	"kvhttp/server"
	"kvhttp/wire"
)

// DefaultMaxBodyMemory bounds the request bodies held at once when
// Options.MaxBodyMemory is zero.
const DefaultMaxBodyMemory = 64 << 20

// errTooLarge: the body passed its limit while it was read. A sentinel,
// so that reading a body allocates nothing but its buffer.
var errTooLarge = errors.New("api: body over the limit")

// errOverBudget: the body needs more room than the whole budget for
// bodies in memory; it can never fit.
var errOverBudget = errors.New("api: body over the memory budget")

// errServerLimit: the body passed the server's own limit (serve
// --max-body), which the codec enforces, before the route's.
var errServerLimit = errors.New("api: body over the server's limit")

const (
	// bodyStart is the first room a body's buffer takes; it then doubles.
	bodyStart = 4 << 10
	// bodyWait is how long a request waits for budget before 503.
	bodyWait = time.Second
)

// readBody reads a request body of at most limit bytes into dst (empty,
// its capacity free to use), within
// the API's budget for bodies held in memory: each connection may hold up
// to limit, so without a shared bound many clients sending bodies at once
// could hold as much memory as they liked. The buffer grows as bytes
// arrive, doubling from 4 KiB, and each growth is reserved first: a client
// that trickles its body, or declares a length it never sends, holds
// little. Past the budget, the request waits up to bodyWait, then fails
// with ErrBusy, the rest of its body unread. held is the budget taken,
// also on error: give it back with releaseBody once the body is no longer
// needed. (A number rather than a release func: a returned closure over
// the count was two allocations a request.)
func (a *API) readBody(r *server.Request, dst []byte, limit int) (body []byte, held int64, err error) {
	if r.Framing.Kind == wire.BodyLength && r.Framing.Length > int64(limit) {
		return dst, 0, errTooLarge
	}
	reserve := func(n int64) error {
		if held+n > a.bodyMemory() {
			return errOverBudget // waiting could never make room
		}
		if err := a.hold(r.Context(), n); err != nil {
			return err
		}
		held += n
		return nil
	}
	if c := int64(cap(dst)); c > 0 {
		if err := reserve(c); err != nil {
			return dst, held, err
		}
	}
	// With a declared length the codec holds the client to it, so room for
	// exactly that much will do; otherwise room for one byte past the
	// limit tells a body too large.
	target, declared := limit+1, r.Framing.Kind == wire.BodyLength
	if declared {
		target = int(r.Framing.Length)
	}
	for {
		if len(dst) == cap(dst) {
			grow := min(max(cap(dst), bodyStart), target-cap(dst))
			if grow <= 0 {
				if declared && len(dst) >= target {
					return dst, held, nil
				}
				return dst, held, errTooLarge
			}
			if err := reserve(int64(grow)); err != nil {
				return dst, held, err
			}
			grown := make([]byte, len(dst), cap(dst)+grow) // exactly what is reserved
			dst = dst[:copy(grown, dst)]
			dst = grown[:len(dst)]
		}
		n, err := r.Body.Read(dst[len(dst):cap(dst)])
		dst = dst[:len(dst)+n]
		if len(dst) > limit {
			return dst, held, errTooLarge
		}
		if errors.Is(err, io.EOF) {
			return dst, held, nil
		}
		if errors.Is(err, wire.ErrBodyTooLarge) {
			return dst, held, errServerLimit
		}
		if err != nil {
			return dst, held, err
		}
	}
}

// refuseBody answers a request whose body could not be read, and reports
// whether it did: over its limit (413), or over the memory budget (503,
// to retry later). The body is left unread, so the connection closes. A
// body the codec refused as malformed needs no answer here: the server
// sends its own.
func (a *API) refuseBody(w *server.ResponseWriter, err error, limit int) bool {
	switch {
	case err == nil:
		return false
	case errors.Is(err, errTooLarge):
		a.writeProblem(w, fmt.Errorf("%w: at most %d bytes here", ErrBodyTooLarge, limit))
	case errors.Is(err, errOverBudget):
		a.writeProblem(w, fmt.Errorf("%w: more than the %d bytes all bodies in memory may hold (serve --max-body-memory)", ErrBodyTooLarge, a.bodyMemory()))
	case errors.Is(err, errServerLimit):
		a.writeProblem(w, fmt.Errorf("%w: over the server's body limit (serve --max-body)", ErrBodyTooLarge))
	case errors.Is(err, ErrBusy):
		a.writeProblem(w, err)
		w.Header().Add("Retry-After", "1")
	default:
		return true
	}
	w.Header().Add("Connection", "close")
	return true
}

// hold reserves n bytes of the budget for bodies in memory, waiting up to
// bodyWait for room; ErrBusy if none came. Give them back with
// a.bodies.Release(n).
func (a *API) hold(ctx context.Context, n int64) error {
	if a.bodies.TryAcquire(n) { // the usual case: no timer, no context
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, bodyWait)
	defer cancel()
	if err := a.bodies.Acquire(ctx, n); err != nil {
		return fmt.Errorf("%w: %d bytes of request bodies are in memory already", ErrBusy, a.bodyMemory())
	}
	return nil
}

// releaseBody gives back the budget readBody held for a body.
func (a *API) releaseBody(held int64) {
	if held > 0 {
		a.bodies.Release(held)
	}
}

func (a *API) bodyMemory() int64 {
	if a.opts.MaxBodyMemory > 0 {
		return a.opts.MaxBodyMemory
	}
	return DefaultMaxBodyMemory
}

func newBodyBudget(opts Options) *semaphore.Weighted {
	if opts.MaxBodyMemory > 0 {
		return semaphore.NewWeighted(opts.MaxBodyMemory)
	}
	return semaphore.NewWeighted(DefaultMaxBodyMemory)
}
