package api

import (
	"context"
	"errors"
	"fmt"

	"kvhttp/server"
	"kvhttp/store"
	"kvhttp/wire"
)

// Allow field values of the key-value resources.
const (
	allowKey  = "GET, HEAD, PUT, DELETE, OPTIONS"
	allowList = "GET, HEAD, OPTIONS"
)

// maxAttempts bounds how often a write pinned to a snapshot is retried
// when the key keeps changing under it.
const maxAttempts = 64

var octetStream = []byte("application/octet-stream")

// key serves /kv/{key}.
func (a *API) key(w *server.ResponseWriter, r *server.Request, raw []byte) {
	key, err := decodeKey(raw)
	if err != nil {
		a.writeProblem(w, err)
		return
	}
	if len(key) > a.maxKey() {
		a.writeProblem(w, fmt.Errorf("%w: %d bytes, at most %d", ErrPathKeyTooLong, len(key), a.maxKey()))
		return
	}
	switch r.Method {
	case wire.MethodGet, wire.MethodHead:
		a.getKey(w, r, key)
	case wire.MethodPut:
		a.putKey(w, r, key)
	case wire.MethodDelete:
		a.deleteKey(w, r, key)
	default:
		a.otherMethod(w, r, allowKey)
	}
}

// getKey answers with the value as stored, its content type and its ETag;
// 304 when If-None-Match matches, 412 when If-Match does not.
func (a *API) getKey(w *server.ResponseWriter, r *server.Request, key []byte) {
	it, err := a.store.Get(r.Context(), key, w.Buffer()[:0])
	a.answerGet(w, r, key, it, err)
}

// answerGet answers a GET or HEAD of key with the outcome of its Get.
func (a *API) answerGet(w *server.ResponseWriter, r *server.Request, key []byte, it store.Item, err error) {
	exists := err == nil
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		a.writeProblem(w, err)
		return
	}
	switch preconditionsOf(r).evaluate(r.Method, exists, it.Version) {
	case preconditionNo:
		a.writeProblem(w, fmt.Errorf("%w: %q", ErrPrecondition, clip(key)))
		return
	case notModified:
		a.addETag(w, it.Version)
		w.WriteHeader(304)
		w.SetBuffer(it.Value[:0])
		return
	}
	if !exists {
		a.writeProblem(w, fmt.Errorf("%w: %q", ErrKeyNotFound, clip(key)))
		return
	}
	ct := it.ContentType
	if len(ct) == 0 {
		ct = octetStream
	}
	w.Header().AddBytes("Content-Type", ct)
	a.addETag(w, it.Version)
	w.SetBuffer(it.Value)
}

// putKey stores the body as the key's value: 201 with Location when the
// key is new, 204 when it replaced a value; 412 when a precondition fails.
func (a *API) putKey(w *server.ResponseWriter, r *server.Request, key []byte) {
	if r.Framing.Kind == wire.BodyLength && r.Framing.Length > int64(a.maxValue()) {
		a.refuseValue(w, r.Framing.Length) // before reading a byte of it
		return
	}
	ct := r.Header.Get("Content-Type")
	if len(ct) > store.MaxContentTypeLen {
		a.writeProblem(w, fmt.Errorf("%w: %d bytes", store.ErrContentTypeTooLong, len(ct)))
		return
	}
	// The response has no body: its buffer holds the value meanwhile.
	value, held, err := a.readBody(r, w.Buffer()[:0], a.maxValue())
	defer a.releaseBody(held)
	// The server's body limit is at least the value limit (serve sees to
	// it), so a body over either is a value too large.
	if errors.Is(err, errTooLarge) || errors.Is(err, errServerLimit) {
		a.refuseValue(w, -1)
		return
	}
	if a.refuseBody(w, err, a.maxValue()) {
		return
	}
	var res store.Result
	err = a.write(r, key, func(cond store.Cond) (err error) {
		res, err = a.store.Put(r.Context(), key, value, ct, cond)
		return err
	})
	w.SetBuffer(value[:0])
	if err != nil {
		a.writeProblem(w, err)
		return
	}
	a.addETag(w, res.Version)
	if !res.Created {
		w.WriteHeader(204)
		return
	}
	var loc [512]byte
	w.Header().AddBytes("Location", appendEscaped(append(loc[:0], kvPrefix...), key))
	w.WriteHeader(201)
}

// deleteKey removes the key: 204, 404 if absent, 412 when a precondition
// fails.
func (a *API) deleteKey(w *server.ResponseWriter, r *server.Request, key []byte) {
	err := a.write(r, key, func(cond store.Cond) error { return a.store.Delete(r.Context(), key, cond) })
	if errors.Is(err, store.ErrNotFound) {
		err = fmt.Errorf("%w: %q", ErrKeyNotFound, clip(key))
	}
	if err != nil {
		a.writeProblem(w, err)
		return
	}
	w.WriteHeader(204)
}

// write runs a PUT or DELETE of key so that its preconditions are checked
// atomically with it: as one store condition when they map onto one, else
// by evaluating them on the key's current version and pinning the write to
// that version, again until it holds still.
func (a *API) write(r *server.Request, key []byte, do func(store.Cond) error) error {
	p := preconditionsOf(r)
	if cond, ok := p.direct(r.Method); ok {
		err := do(cond)
		if p.any() && condFailed(err) {
			return fmt.Errorf("%w: %q", ErrPrecondition, clip(key))
		}
		return err
	}
	for range maxAttempts {
		version, exists, err := a.version(r.Context(), key)
		if err != nil {
			return err
		}
		if p.evaluate(r.Method, exists, version) != proceed {
			return fmt.Errorf("%w: %q", ErrPrecondition, clip(key))
		}
		if !exists && r.Method == wire.MethodDelete {
			return store.ErrNotFound
		}
		if err = do(pin(store.Item{Version: version}, exists)); !condFailed(err) {
			return err
		}
	}
	return fmt.Errorf("%w: %q changed %d times while this request was evaluated", ErrConflict, clip(key), maxAttempts)
}

// condFailed reports whether a store write failed on its condition.
func condFailed(err error) bool {
	return errors.Is(err, store.ErrExists) || errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrVersionMismatch)
}

// version returns the key's current version without copying its value.
func (a *API) version(ctx context.Context, key []byte) (v uint64, exists bool, err error) {
	err = a.store.List(ctx, store.ListOptions{Prefix: key, Limit: 1}, func(it store.Item) error {
		if string(it.Key) == string(key) {
			v, exists = it.Version, true
		}
		return nil
	})
	return v, exists, err
}

func (a *API) addETag(w *server.ResponseWriter, version uint64) {
	var tag [24]byte
	w.Header().AddBytes("ETag", appendETag(tag[:0], version))
}

// refuseValue answers 413 for a value over the limit and closes the
// connection, so the rest of the body need not be read (size < 0: not
// known, the body was cut off while reading).
func (a *API) refuseValue(w *server.ResponseWriter, size int64) {
	err := fmt.Errorf("%w: at most %d bytes", ErrValueTooLarge, a.maxValue())
	if size >= 0 {
		err = fmt.Errorf("%w: %d bytes, at most %d", ErrValueTooLarge, size, a.maxValue())
	}
	a.writeProblem(w, err)
	w.Header().Add("Connection", "close")
}

// health is GET /healthz: 200 when the store answers a read.
func (a *API) health(w *server.ResponseWriter, r *server.Request) {
	if r.Method != wire.MethodGet && r.Method != wire.MethodHead {
		a.otherMethod(w, r, allowRoot)
		return
	}
	_, _, err := a.version(r.Context(), []byte("\x00healthz"))
	if err != nil {
		a.writeProblem(w, fmt.Errorf("%w: %w", ErrUnavailable, err))
		return
	}
	w.Header().Add("Content-Type", "application/json")
	w.WriteString(`{"status":"ok"}` + "\n")
}
