package api

import (
	"errors"
	"strconv"

	"kvhttp/server"
	"kvhttp/store"
)

// Errors the API answers with. Each has a row in problems.
var (
	ErrKeyNotFound    = errors.New("api: no such key")
	ErrPrecondition   = errors.New("api: precondition failed")
	ErrConflict       = errors.New("api: key kept changing")
	ErrValueTooLarge  = errors.New("api: value too large")
	ErrPathKeyTooLong = errors.New("api: key too long")
	ErrBadKey         = errors.New("api: malformed key")
	ErrBadQuery       = errors.New("api: malformed query")
	ErrBodyTooLarge   = errors.New("api: body too large")
	ErrBusy           = errors.New("api: server busy")
	ErrKeyExists      = errors.New("api: key already exists")
	ErrKeyMissing     = errors.New("api: key does not exist")
	ErrBadPair        = errors.New("api: body must be key:value")
	ErrKeyTooLong     = errors.New("api: key too long")
	ErrNoRoute        = errors.New("api: no such resource")
	ErrMethod         = errors.New("api: method not allowed")
	ErrUnavailable    = errors.New("api: store unavailable")
)

// problemURN prefixes every problem type: a stable identifier, not a page.
const problemURN = "urn:kvhttp:problem:"

// problem is one row of the error table.
type problem struct {
	err    error
	status int
	slug   string // the type is problemURN + slug
	title  string
}

// problems is the one table from errors to responses (RFC 9457). The
// origin answered an existing key on create and a missing key on update
// with 400, and so do its routes here; the type tells the cases apart.
var problems = []problem{
	{ErrKeyExists, 400, "key-exists", "Key already exists"},
	{ErrKeyMissing, 400, "key-missing", "Key does not exist"},
	{ErrBadPair, 400, "bad-pair", "Body must be key:value"},
	{ErrKeyTooLong, 400, "key-too-long", "Key too long"},
	{store.ErrEmptyKey, 400, "bad-pair", "Body must be key:value"},
	{ErrKeyNotFound, 404, "key-not-found", "No such key"},
	{ErrPrecondition, 412, "precondition-failed", "Precondition failed"},
	{ErrConflict, 409, "conflict", "Key kept changing"},
	{ErrValueTooLarge, 413, "value-too-large", "Value too large"},
	{ErrPathKeyTooLong, 414, "key-too-long", "Key too long"},
	{ErrBadKey, 400, "bad-key", "Malformed key"},
	{ErrBadQuery, 400, "bad-query", "Malformed query"},
	{store.ErrContentTypeTooLong, 400, "bad-content-type", "Content type too long"},
	{ErrBodyTooLarge, 413, "body-too-large", "Body too large"},
	{ErrBusy, 503, "busy", "Server busy"},
	{ErrNoRoute, 404, "not-found", "Not found"},
	{ErrMethod, 405, "method-not-allowed", "Method not allowed"},
	{store.ErrClosed, 503, "unavailable", "Store unavailable"},
	{ErrUnavailable, 503, "unavailable", "Store unavailable"},
}

// internalProblem answers anything the table does not know.
var internalProblem = problem{nil, 500, "internal", "Internal error"}

func problemFor(err error) problem {
	for _, p := range problems {
		if errors.Is(err, p.err) {
			return p
		}
	}
	return internalProblem
}

// writeProblem answers with the problem for err; its detail member says
// what exactly went wrong, for a person.
func (a *API) writeProblem(w *server.ResponseWriter, err error) {
	p := problemFor(err)
	if p.status >= 500 && !errors.Is(err, ErrBusy) { // being busy is no fault
		a.logger().Error("request failed", "err", err)
	}
	w.WriteHeader(p.status)
	w.Header().Add("Content-Type", "application/problem+json")
	b := append(w.Buffer()[:0], `{"type":"`+problemURN+p.slug+`","title":"`+p.title+`","status":`...)
	b = strconv.AppendInt(b, int64(p.status), 10)
	if d := detail(err, p.status); d != "" {
		b = append(b, `,"detail":`...)
		b = appendJSONString(b, []byte(d))
	}
	w.SetBuffer(append(b, "}\n"...))
}
