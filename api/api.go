package api

import (
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/sync/semaphore"

	"kvhttp/server"
	"kvhttp/store"
	"kvhttp/wire"
)

// DefaultMaxKeyBytes bounds keys when Options.MaxKeyBytes is zero.
const DefaultMaxKeyBytes = 1 << 10

// DefaultMaxValueBytes bounds values when Options.MaxValueBytes is zero.
const DefaultMaxValueBytes = 1 << 20

// Options configure an API; the zero value gives the defaults.
type Options struct {
	MaxKeyBytes   int // longest key accepted; 0 means DefaultMaxKeyBytes
	MaxValueBytes int // largest value accepted; 0 means DefaultMaxValueBytes. The server's body limit should be at least this.
	ListLimit     int // page size of a listing; 0 means DefaultListLimit
	MaxListLimit  int // largest page a client may ask for; 0 means DefaultMaxListLimit
	// MaxBodyMemory bounds the request bodies held in memory at once,
	// across all connections; 0 means DefaultMaxBodyMemory.
	MaxBodyMemory int64
	Logger        *slog.Logger // failures of the store; nil means slog.Default()
}

// API answers kvhttp's routes from a Store.
type API struct {
	store  Store
	opts   Options
	bodies *semaphore.Weighted // bytes of request bodies held in memory
	async  asyncWriter         // store, if it takes writes without waiting
	rounds roundWriter         // store, if it commits writes on the event loop
	memory memoryReader        // store, if it answers some reads from memory
}

var _ server.Handler = (*API)(nil)

// New returns an API over s.
func New(s Store, opts Options) *API {
	a := &API{store: s, opts: opts, bodies: newBodyBudget(opts)}
	a.async, _ = s.(asyncWriter)
	if a.async != nil {
		a.rounds, _ = s.(roundWriter)
	}
	a.memory, _ = s.(memoryReader)
	return a
}

func (a *API) maxKey() int { return orDefault(a.opts.MaxKeyBytes, DefaultMaxKeyBytes) }

func (a *API) maxValue() int { return orDefault(a.opts.MaxValueBytes, DefaultMaxValueBytes) }

func (a *API) maxListLimit() int { return orDefault(a.opts.MaxListLimit, DefaultMaxListLimit) }

func (a *API) listLimit() int {
	return min(orDefault(a.opts.ListLimit, DefaultListLimit), a.maxListLimit())
}

func orDefault(v, def int) int {
	if v > 0 {
		return v
	}
	return def
}

func (a *API) logger() *slog.Logger {
	if a.opts.Logger != nil {
		return a.opts.Logger
	}
	return slog.Default()
}

// Allow field values of the routes.
const (
	allowRoot   = "GET, HEAD, OPTIONS"
	allowPost   = "POST, OPTIONS"
	allowPut    = "PUT, OPTIONS"
	allowServer = "GET, HEAD, POST, PUT, DELETE, OPTIONS"
)

// ServeHTTP routes a request. The origin's routes keep their paths and
// outcomes: GET or HEAD / lists every pair, POST /create adds one, PUT
// /update changes one. POST /import adds many in one transaction.
// /kv/{key} is a resource per key, /kv/ lists keys page by page, and
// /healthz tells whether the store answers.
func (a *API) ServeHTTP(w *server.ResponseWriter, r *server.Request) {
	if len(r.Path) > len(kvPrefix) && string(r.Path[:len(kvPrefix)]) == kvPrefix {
		a.key(w, r, r.Path[len(kvPrefix):])
		return
	}
	switch string(r.Path) {
	case "/kv/", "/kv":
		a.listRoute(w, r)
	case "/healthz":
		a.health(w, r)
	case "/":
		if r.Method == wire.MethodGet || r.Method == wire.MethodHead {
			a.listAll(w, r, 200)
			return
		}
		a.otherMethod(w, r, allowRoot)
	case "/create":
		if r.Method == wire.MethodPost {
			a.create(w, r)
			return
		}
		a.otherMethod(w, r, allowPost)
	case "/update":
		if r.Method == wire.MethodPut {
			a.update(w, r)
			return
		}
		a.otherMethod(w, r, allowPut)
	case "/import":
		if r.Method == wire.MethodPost {
			a.importPairs(w, r)
			return
		}
		a.otherMethod(w, r, allowPost)
	case "*": // OPTIONS *: what the server as a whole supports
		a.otherMethod(w, r, allowServer)
	default:
		a.writeProblem(w, fmt.Errorf("%w: %q", ErrNoRoute, clip(r.Path)))
	}
}

// otherMethod answers OPTIONS with 204 and any other method with 405, both
// with the Allow field of the resource (RFC 9110 sections 9.3.7, 15.5.6).
func (a *API) otherMethod(w *server.ResponseWriter, r *server.Request, allow string) {
	w.Header().Add("Allow", allow)
	if r.Method == wire.MethodOptions {
		w.WriteHeader(204)
		return
	}
	a.writeProblem(w, fmt.Errorf("%w: %s (allowed: %s)", ErrMethod, r.Method, allow))
}

// create is POST /create: add a pair whose key is new; answer 201 with all
// pairs, or 400 if the key exists or the body is not key:value.
func (a *API) create(w *server.ResponseWriter, r *server.Request) {
	a.writePair(w, r, store.IfAbsent, 201)
}

// update is PUT /update: change the value of an existing key; answer 200
// with all pairs, or 400 if the key is missing or the body is not key:value.
func (a *API) update(w *server.ResponseWriter, r *server.Request) {
	a.writePair(w, r, store.IfPresent, 200)
}

func (a *API) writePair(w *server.ResponseWriter, r *server.Request, kind store.CondKind, status int) {
	limit := a.maxKey() + a.maxValue() + 2
	body, held, err := a.readBody(r, nil, limit)
	defer a.releaseBody(held)
	if a.refuseBody(w, err, limit) {
		return
	}
	key, value, err := a.parsePair(body)
	if err != nil {
		a.writeProblem(w, err)
		return
	}
	_, err = a.store.Put(r.Context(), key, value, textPlain, store.Cond{Kind: kind})
	switch {
	case errors.Is(err, store.ErrExists):
		err = fmt.Errorf("%w: %q", ErrKeyExists, key)
	case errors.Is(err, store.ErrNotFound):
		err = fmt.Errorf("%w: %q", ErrKeyMissing, key)
	}
	if err != nil {
		a.writeProblem(w, err)
		return
	}
	a.listAll(w, r, status)
}

// importPairs is POST /import: the body is key:value lines, the origin's
// file format; all of them are written in one durable transaction, or none
// if any line is bad.
func (a *API) importPairs(w *server.ResponseWriter, r *server.Request) {
	// One byte under the budget: a chunked body must be able to show
	// that it is over the limit within the room it may reserve.
	limit := int(a.bodyMemory()) - 1
	body, held, err := a.readBody(r, nil, limit)
	defer a.releaseBody(held)
	if a.refuseBody(w, err, limit) {
		return
	}
	// The pairs take memory beyond the body's: that is held in the
	// budget too.
	n := countLines(body)
	size := int64(n) * int64(unsafe.Sizeof(store.Item{}))
	if size > a.bodyMemory() {
		a.writeProblem(w, fmt.Errorf("%w: %d pairs need %d bytes in memory, at most %d", ErrBodyTooLarge, n, size, a.bodyMemory()))
		w.Header().Add("Connection", "close")
		return
	}
	if err := a.hold(r.Context(), size); err != nil {
		a.refuseBody(w, err, limit)
		return
	}
	defer a.bodies.Release(size)
	items, err := a.parseLines(body, n)
	if err == nil {
		err = a.store.PutAll(r.Context(), items)
	}
	if err != nil {
		a.writeProblem(w, err)
		return
	}
	w.Header().Add("Content-Type", "application/json")
	b := append(w.Buffer()[:0], `{"imported":`...)
	b = strconv.AppendInt(b, int64(len(items)), 10)
	w.SetBuffer(append(b, "}\n"...))
}

// listAll answers with every pair in key order: a JSON object, or
// key:value lines for a client that prefers text/plain. The body is
// streamed (see stream), so a large store costs the server a batch of
// memory, not the whole listing; it is one object but not one snapshot:
// a pair written during the listing may or may not appear, and none
// appears twice.
func (a *API) listAll(w *server.ResponseWriter, r *server.Request, status int) {
	text := negotiate(r.Header.Get("Accept")) == formatText
	if text {
		w.Header().Add("Content-Type", "text/plain; charset=utf-8")
	} else {
		w.Header().Add("Content-Type", "application/json")
	}
	w.WriteHeader(status)
	b := w.Buffer()[:0]
	if !text {
		b = append(b, '{')
	}
	first := true
	b, err := a.stream(w, r, store.ListOptions{}, b, func(b []byte, it store.Item) ([]byte, error) {
		if text {
			return append(append(append(append(b, it.Key...), ':'), it.Value...), '\n'), nil
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(appendJSONString(b, it.Key), ':')
		return appendJSONString(b, it.Value), nil
	})
	switch {
	case errors.Is(err, errGone):
		return
	case err != nil:
		a.failList(w, err)
		return
	}
	if !text {
		b = append(b, "}\n"...)
	}
	w.SetBuffer(b)
}

// detail is the human part of a problem: err's text without package
// prefixes. Server errors say nothing of their cause, which is logged.
func detail(err error, status int) string {
	if status >= 500 {
		return ""
	}
	return strings.ReplaceAll(err.Error(), "api: ", "")
}
