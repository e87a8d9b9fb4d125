package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Kinds of refusal, for errors.Is on an *Error.
var (
	// ErrNotFound: 404, or the origin route's key-missing.
	ErrNotFound = errors.New("client: not found")
	// ErrPreconditionFailed: 412, an If-Match or If-None-Match that did
	// not hold.
	ErrPreconditionFailed = errors.New("client: precondition failed")
	// ErrConflict: 409, or the origin route's key-exists.
	ErrConflict = errors.New("client: conflict")
)

// ErrEmptyKey is returned, with nothing sent, for a key that is empty: the
// path /kv/ names the listing, not a key.
var ErrEmptyKey = errors.New("client: empty key")

// problemURN prefixes the problem types kvhttp's server sends.
const problemURN = "urn:kvhttp:problem:"

// Error is a request the server answered with a failure status. Type,
// Title and Detail come from an application/problem+json body (RFC 9457)
// when the server sent one.
type Error struct {
	Method, Target string
	Status         int
	Type           string
	Title          string
	Detail         string
}

func (e *Error) Error() string {
	what := e.Detail
	if what == "" {
		what = e.Title
	}
	if what == "" {
		return fmt.Sprintf("client: %s %s: status %d", e.Method, e.Target, e.Status)
	}
	return fmt.Sprintf("client: %s %s: status %d: %s", e.Method, e.Target, e.Status, what)
}

// Is reports whether e is of the kind target names: ErrNotFound,
// ErrPreconditionFailed or ErrConflict.
func (e *Error) Is(target error) bool {
	switch target {
	case ErrNotFound:
		return e.Status == 404 || e.Type == problemURN+"key-missing"
	case ErrPreconditionFailed:
		return e.Status == 412
	case ErrConflict:
		return e.Status == 409 || e.Type == problemURN+"key-exists"
	}
	return false
}

// ErrorOf describes a response that refused req, reading the problem
// fields from its body when it has them.
func ErrorOf(req *Request, resp *Response) *Error {
	e := &Error{Method: req.Method, Target: req.Target, Status: resp.Status}
	ct := string(resp.Header.Get("Content-Type"))
	if strings.HasPrefix(ct, "application/problem+json") {
		var p struct{ Type, Title, Detail string }
		if json.Unmarshal(resp.Body, &p) == nil {
			e.Type, e.Title, e.Detail = p.Type, p.Title, p.Detail
		}
	}
	return e
}
