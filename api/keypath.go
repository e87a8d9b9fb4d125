package api

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
)

// kvPrefix is where per-key resources live: /kv/{key}.
const kvPrefix = "/kv/"

// decodeKey returns the key named by the path after /kv/. Keys are any
// bytes, percent-encoded where needed (/kv/a%2Fb is key "a/b"); a raw
// slash is taken as is, so /kv/a/b names the same key. A path without
// escapes is used without copying.
func decodeKey(raw []byte) ([]byte, error) {
	if bytes.IndexByte(raw, '%') < 0 {
		return raw, nil
	}
	key, err := percentDecode(make([]byte, 0, len(raw)), raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadKey, err)
	}
	return key, nil
}

// percentDecode appends the percent-decoding of s to dst. "+" stays "+":
// RFC 3986 gives it no special meaning, and keys may contain it.
func percentDecode(dst, s []byte) ([]byte, error) {
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			dst = append(dst, s[i])
			continue
		}
		if i+2 >= len(s) || unhex(s[i+1]) < 0 || unhex(s[i+2]) < 0 {
			return nil, fmt.Errorf("bad percent-encoding at byte %d", i)
		}
		dst = append(dst, byte(unhex(s[i+1])<<4|unhex(s[i+2])))
		i += 2
	}
	return dst, nil
}

func unhex(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c - 'a' + 10)
	case 'A' <= c && c <= 'F':
		return int(c - 'A' + 10)
	}
	return -1
}

// appendEscaped appends s percent-encoded, leaving only RFC 3986's
// unreserved characters as they are, so it round-trips through
// percentDecode in a path or a query. The keys "." and ".." are encoded
// whole: as path segments they would be dot segments, which resolving a
// reference removes (RFC 3986 section 5.2.4), naming another resource.
func appendEscaped(dst, s []byte) []byte {
	const hex = "0123456789ABCDEF"
	dots := string(s) == "." || string(s) == ".."
	for _, c := range s {
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' && !dots || c == '_' || c == '~' {
			dst = append(dst, c)
		} else {
			dst = append(dst, '%', hex[c>>4], hex[c&0xf])
		}
	}
	return dst
}

// listQuery is a parsed listing query: ?prefix=P&after=K&limit=N&keys.
type listQuery struct {
	prefix, after []byte
	limit         int
	keysOnly      bool
}

// parseListQuery parses the query of GET /kv/. Unknown parameters are
// refused rather than ignored, so a typo cannot list everything.
func (a *API) parseListQuery(q []byte) (listQuery, error) {
	lq := listQuery{limit: a.listLimit()}
	for len(q) > 0 {
		var param []byte
		param, q, _ = bytes.Cut(q, []byte("&"))
		if len(param) == 0 {
			continue
		}
		name, raw, _ := bytes.Cut(param, []byte("="))
		value, err := percentDecode(nil, raw)
		if err != nil {
			return lq, fmt.Errorf("%w: %s: %w", ErrBadQuery, name, err)
		}
		switch string(name) {
		case "prefix":
			lq.prefix = value
		case "after":
			lq.after = value
		case "limit":
			n, err := strconv.Atoi(string(value))
			if errors.Is(err, strconv.ErrRange) && len(value) > 0 && value[0] != '-' {
				n, err = a.maxListLimit(), nil // lowered, as any limit over the maximum
			}
			if err != nil || n < 1 {
				return lq, fmt.Errorf("%w: limit must be a positive integer, not %q", ErrBadQuery, clip(value))
			}
			lq.limit = min(n, a.maxListLimit()) // the next link carries on
		case "keys":
			switch string(value) {
			case "", "1", "true":
				lq.keysOnly = true
			case "0", "false":
				lq.keysOnly = false
			default:
				return lq, fmt.Errorf("%w: keys takes no value, 1 or true, 0 or false", ErrBadQuery)
			}
		default:
			return lq, fmt.Errorf("%w: unknown parameter %q", ErrBadQuery, clip(name))
		}
	}
	return lq, nil
}

// appendNextLink appends the target of the page after cursor.
func (lq *listQuery) appendNextLink(dst, cursor []byte) []byte {
	dst = append(dst, kvPrefix+"?"...)
	if len(lq.prefix) > 0 {
		dst = append(appendEscaped(append(dst, "prefix="...), lq.prefix), '&')
	}
	dst = appendEscaped(append(dst, "after="...), cursor)
	dst = strconv.AppendInt(append(dst, "&limit="...), int64(lq.limit), 10)
	if lq.keysOnly {
		dst = append(dst, "&keys"...)
	}
	return dst
}
