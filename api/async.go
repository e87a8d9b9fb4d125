package api

import (
	"errors"
	"fmt"
	"io"
	"sync"

	"kvhttp/server"
	"kvhttp/store"
	"kvhttp/wire"
)

// asyncWriter is a Store that takes a write without waiting for it and
// reports its outcome later (the embedded store: its committer calls then
// after the sync that makes the write durable). With one, PUT and DELETE
// of /kv/{key} are answered from the server's event loop: the handler
// hands the write to the store and returns, and the answer goes once the
// write is on disk (server.NonBlockingHandler).
type asyncWriter interface {
	PutAsync(key, value, contentType []byte, cond store.Cond, then func(store.Result, error)) error
	DeleteAsync(key []byte, cond store.Cond, then func(store.Result, error)) error
}

// roundWriter is an asyncWriter that can commit the writes of one round
// of the server's event loop on the loop itself, without waiting for
// their sync (the embedded store: see boltstore's HoldWrites). The API
// passes the loop's rounds on to it (server.RoundHandler).
type roundWriter interface {
	asyncWriter
	HoldWrites()
	CommitHeld()
	HeldSyncFD() int
	HeldSynced()
	FinishHeld()
}

// memoryReader is a Store that can answer some reads from memory, without
// waiting (the embedded store: the writes not yet checkpointed into its
// data file). With one, a GET or HEAD of /kv/{key} it can answer so is
// answered on the server's event loop, and the connection stays there.
type memoryReader interface {
	GetInMemory(key, buf []byte) (store.Item, bool, error)
}

var _ server.RoundHandler = (*API)(nil)

// RoundFD returns the store's descriptor for the end of the syncs that
// EndRound starts, or -1 when the store does not commit on the loop.
func (a *API) RoundFD() int {
	if a.rounds == nil {
		return -1
	}
	return a.rounds.HeldSyncFD()
}

// BeginRound makes the store hold the writes of the loop's round, for
// EndRound.
func (a *API) BeginRound() {
	if a.rounds != nil {
		a.rounds.HoldWrites()
	}
}

// EndRound has the store commit the round's writes together, without
// waiting for their sync.
func (a *API) EndRound() {
	if a.rounds != nil {
		a.rounds.CommitHeld()
	}
}

// EndRounds waits for the sync of the last commit EndRound started, if
// it is in flight, and answers its writes: the loop is stopping.
func (a *API) EndRounds() {
	if a.rounds != nil {
		a.rounds.FinishHeld()
	}
}

// RoundEvent ends the commit whose sync RoundFD reports over: its writes
// are answered.
func (a *API) RoundEvent() {
	if a.rounds != nil {
		a.rounds.HeldSynced()
	}
}

// TryServeHTTP answers, without blocking, a PUT or DELETE of /kv/{key}
// whose preconditions map onto one store condition, when the store takes
// writes asynchronously, and a GET or HEAD of /kv/{key} that the store
// can answer from memory; everything else it declines, to ServeHTTP. It
// declines rather than refuses: an invalid request gets its answer from
// ServeHTTP, so that the two paths answer alike. Answering reads keeps a
// connection that mixes reads and writes on the server's event loop,
// rather than handing it to a goroutine and back at each switch.
func (a *API) TryServeHTTP(w *server.ResponseWriter, r *server.Request) bool {
	if len(r.Path) <= len(kvPrefix) || string(r.Path[:len(kvPrefix)]) != kvPrefix {
		return false
	}
	switch r.Method {
	case wire.MethodGet, wire.MethodHead:
		if a.memory == nil {
			return false
		}
	case wire.MethodPut, wire.MethodDelete:
		if a.async == nil {
			return false
		}
	default:
		return false
	}
	key, err := decodeKey(r.Path[len(kvPrefix):])
	if err != nil || len(key) > a.maxKey() {
		return false
	}
	if r.Method == wire.MethodGet || r.Method == wire.MethodHead {
		it, ok, err := a.memory.GetInMemory(key, w.Buffer()[:0])
		if ok {
			a.answerGet(w, r, key, it, err)
		}
		return ok
	}
	cond, ok := preconditionsOf(r).direct(r.Method)
	if !ok {
		return false
	}
	var value, ct []byte
	if r.Method == wire.MethodPut {
		n := int64(0)
		if r.Framing.Kind == wire.BodyLength {
			n = r.Framing.Length
		}
		ct = r.Header.Get("Content-Type")
		if n > int64(a.maxValue()) || len(ct) > store.MaxContentTypeLen || !a.bodies.TryAcquire(n) {
			return false
		}
		defer a.bodies.Release(n) // the store copies the value
		if value, err = readAll(r.Body, w.Buffer()[:0], int(n)); err != nil {
			// The body was all there (the server offers no other), so
			// this is a refused body; the server answers it.
			a.refuseBody(w, err, a.maxValue())
			return true
		}
		w.SetBuffer(value[:0]) // the response has no body
	}
	if !w.Later() {
		a.writeProblem(w, errors.New("api: request body could not be read out"))
		return true
	}
	p := newPendingWrite(a, w, r, key)
	if r.Method == wire.MethodPut {
		err = a.async.PutAsync(key, value, ct, cond, p.then)
	} else {
		err = a.async.DeleteAsync(key, cond, p.then)
	}
	if err != nil {
		p.then(store.Result{}, err)
	}
	return true
}

// readAll reads a body of exactly n bytes into dst (reallocated if its
// capacity is short), which has all arrived.
func readAll(body *server.Body, dst []byte, n int) ([]byte, error) {
	if cap(dst) < n {
		dst = make([]byte, 0, n)
	}
	dst = dst[:n]
	for off := 0; off < n; {
		k, err := body.Read(dst[off:])
		off += k
		if err != nil && (off < n || !errors.Is(err, io.EOF)) {
			return dst[:off], err
		}
	}
	return dst, nil
}

// A pendingWrite is a PUT or DELETE waiting for its store write: then
// writes its answer and sends it. Pooled, with then made once, so that a
// deferred write allocates nothing.
type pendingWrite struct {
	a       *API
	w       *server.ResponseWriter
	put     bool
	anyCond bool   // the request had preconditions
	key     []byte // a copy: the request is gone when then runs
	then    func(store.Result, error)
}

var pendingPool = sync.Pool{New: func() any { return new(pendingWrite) }}

func newPendingWrite(a *API, w *server.ResponseWriter, r *server.Request, key []byte) *pendingWrite {
	p := pendingPool.Get().(*pendingWrite)
	if p.then == nil {
		p.then = p.finish // once per pooled value
	}
	p.a, p.w = a, w
	p.put = r.Method == wire.MethodPut
	p.anyCond = preconditionsOf(r).any()
	p.key = append(p.key[:0], key...)
	return p
}

// finish answers as putKey and deleteKey do for the same outcome.
func (p *pendingWrite) finish(res store.Result, err error) {
	a, w, key := p.a, p.w, p.key
	switch {
	case p.anyCond && condFailed(err):
		err = fmt.Errorf("%w: %q", ErrPrecondition, clip(key))
	case !p.put && errors.Is(err, store.ErrNotFound):
		err = fmt.Errorf("%w: %q", ErrKeyNotFound, clip(key))
	}
	switch {
	case err != nil:
		a.writeProblem(w, err)
	case !p.put:
		w.WriteHeader(204)
	case !res.Created:
		a.addETag(w, res.Version)
		w.WriteHeader(204)
	default:
		a.addETag(w, res.Version)
		var loc [512]byte
		w.Header().AddBytes("Location", appendEscaped(append(loc[:0], kvPrefix...), key))
		w.WriteHeader(201)
	}
	p.a, p.w = nil, nil
	if cap(p.key) > 4<<10 {
		p.key = nil
	}
	pendingPool.Put(p)
	w.Done()
}
