package api

import (
	"bytes"
	"strconv"

	"kvhttp/server"
	"kvhttp/store"
	"kvhttp/wire"
)

// appendETag appends the strong entity tag of a stored version: its number
// in quotes. Versions change on every write and are never reused for a
// key, so the tag changes whenever the value may have.
func appendETag(dst []byte, version uint64) []byte {
	dst = append(dst, '"')
	dst = strconv.AppendUint(dst, version, 10)
	return append(dst, '"')
}

// outcome is the result of evaluating a request's preconditions.
type outcome uint8

const (
	proceed        outcome = iota // preconditions hold, or there are none
	notModified                   // 304: a GET or HEAD whose If-None-Match matched
	preconditionNo                // 412
)

// preconditions are a request's If-Match and If-None-Match fields (RFC
// 9110 section 13.1). Date-based conditions are not supported: stored
// values have versions, not modification times.
type preconditions struct {
	h                    *wire.Header
	ifMatch, ifNoneMatch bool
}

func preconditionsOf(r *server.Request) preconditions {
	h := &r.Header
	return preconditions{h: h, ifMatch: h.Has("If-Match"), ifNoneMatch: h.Has("If-None-Match")}
}

func (p preconditions) any() bool { return p.ifMatch || p.ifNoneMatch }

// evaluate applies RFC 9110 section 13.2.2 to the current state of the key
// (exists, and its version): If-Match first, with strong comparison, then
// If-None-Match, with weak comparison, answering 304 to GET and HEAD.
func (p preconditions) evaluate(method string, exists bool, version uint64) outcome {
	var cur [24]byte
	tag := appendETag(cur[:0], version)
	if p.ifMatch && !(exists && p.matches("If-Match", tag, true)) {
		return preconditionNo
	}
	if p.ifNoneMatch && exists && p.matches("If-None-Match", tag, false) {
		if method == wire.MethodGet || method == wire.MethodHead {
			return notModified
		}
		return preconditionNo
	}
	return proceed
}

// matches reports whether the entity-tag lists of the fields named name
// hold "*" or tag. Strong comparison refuses weak tags (W/"..."). A
// malformed list matches nothing from the point where it goes wrong.
func (p preconditions) matches(name string, tag []byte, strong bool) bool {
	for n, v := range p.h.All() {
		if !equalFoldName(n, name) {
			continue
		}
		if v = bytes.Trim(v, ows); string(v) == "*" {
			return true
		}
		for len(v) > 0 {
			v = bytes.TrimLeft(v, ows+",")
			weak := bytes.HasPrefix(v, []byte("W/"))
			if weak {
				v = v[2:]
			}
			if len(v) == 0 || v[0] != '"' {
				break
			}
			end := bytes.IndexByte(v[1:], '"')
			if end < 0 {
				break
			}
			if bytes.Equal(v[:end+2], tag) && !(strong && weak) {
				return true
			}
			v = v[end+2:]
		}
	}
	return false
}

func equalFoldName(b []byte, s string) bool { return bytes.EqualFold(b, []byte(s)) }

// direct returns the store condition that checks these preconditions
// atomically with a write, for the forms that map onto one exactly:
// none, If-None-Match: * (create only), If-Match: * (update only) and
// If-Match with one of our tags (compare-and-swap). ok is false for any
// other form; those are pinned to a snapshot instead (pin).
func (p preconditions) direct(method string) (cond store.Cond, ok bool) {
	switch {
	case !p.any():
		return store.Cond{Kind: store.Always}, true
	case p.ifMatch && p.ifNoneMatch || p.h.Count("If-Match") > 1 || p.h.Count("If-None-Match") > 1:
		return cond, false
	case p.ifNoneMatch:
		// DELETE If-None-Match: * is "delete if absent": evaluated instead.
		v := bytes.Trim(p.h.Get("If-None-Match"), ows)
		return store.Cond{Kind: store.IfAbsent}, string(v) == "*" && method != wire.MethodDelete
	}
	v := bytes.Trim(p.h.Get("If-Match"), ows)
	if string(v) == "*" {
		return store.Cond{Kind: store.IfPresent}, true
	}
	// Only our own spelling of a tag (no leading zeros) is compared by
	// number; "01" is another tag than "1" (RFC 9110 section 8.8.3.2), so
	// any other goes to the evaluation that compares tags byte for byte.
	if len(v) < 3 || v[0] != '"' || v[len(v)-1] != '"' || v[1] == '0' {
		return cond, false
	}
	n, err := strconv.ParseUint(string(v[1:len(v)-1]), 10, 64)
	if err != nil || n == 0 {
		return cond, false
	}
	return store.Cond{Kind: store.IfVersion, Version: n}, true
}

// pin is the condition that lets a write happen only in the state a
// snapshot saw (absent, or at its version): a concurrent change makes the
// write fail, and the request evaluates its preconditions again.
func pin(snapshot store.Item, exists bool) store.Cond {
	if !exists {
		return store.Cond{Kind: store.IfAbsent}
	}
	return store.Cond{Kind: store.IfVersion, Version: snapshot.Version}
}
