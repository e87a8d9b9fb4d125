package api

import (
	"bytes"
	"fmt"
	"unicode/utf8"

	"kvhttp/store"
)

// textPlain is the content type stored with values written through the
// origin's routes and the import: they are lines of UTF-8 text.
var textPlain = []byte("text/plain; charset=utf-8")

// parsePair splits a body of the origin's form "key:value" at its first
// colon, so values may hold colons ("a:b:c" is key "a", value "b:c"). One
// trailing line break is forgiven, as `echo` and editors add one. Keys are
// non-empty; neither part may hold a line break (the pair would not survive
// the key:value file format) and both must be UTF-8 text.
func (a *API) parsePair(body []byte) (key, value []byte, err error) {
	body = bytes.TrimSuffix(body, []byte("\n"))
	body = bytes.TrimSuffix(body, []byte("\r"))
	key, value, ok := bytes.Cut(body, []byte(":"))
	switch {
	case !ok:
		return nil, nil, fmt.Errorf("%w: no colon in %q", ErrBadPair, clip(body))
	case len(key) == 0:
		return nil, nil, fmt.Errorf("%w: empty key", ErrBadPair)
	case bytes.ContainsAny(body, "\r\n"):
		return nil, nil, fmt.Errorf("%w: line break inside the pair", ErrBadPair)
	case !utf8.Valid(body):
		return nil, nil, fmt.Errorf("%w: not UTF-8 text", ErrBadPair)
	case len(key) > a.maxKey():
		return nil, nil, fmt.Errorf("%w: %d bytes, at most %d", ErrKeyTooLong, len(key), a.maxKey())
	case len(value) > a.maxValue():
		return nil, nil, fmt.Errorf("%w: %d bytes, at most %d", ErrValueTooLarge, len(value), a.maxValue())
	}
	return key, value, nil
}

// parseLines parses an import body of at most n pairs (countLines):
// key:value lines ending in LF or CRLF, empty lines skipped. It stops at
// the first bad line, naming it.
func (a *API) parseLines(body []byte, n int) ([]store.Item, error) {
	items := make([]store.Item, 0, n)
	for n := 1; len(body) > 0; n++ {
		line, rest, _ := bytes.Cut(body, []byte("\n"))
		body = rest
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(line) == 0 {
			continue
		}
		key, value, err := a.parsePair(line)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		items = append(items, store.Item{Key: key, Value: value, ContentType: textPlain})
	}
	return items, nil
}

// countLines counts the lines of body that are not empty (nor a lone CR):
// the pairs an import holds at most.
func countLines(body []byte) int {
	n := 0
	for len(body) > 0 {
		var line []byte
		line, body, _ = bytes.Cut(body, []byte("\n"))
		if len(line) > 1 || len(line) == 1 && line[0] != '\r' {
			n++
		}
	}
	return n
}

// clip shortens what an error message quotes from a body.
func clip(b []byte) []byte {
	if len(b) > 64 {
		return b[:64]
	}
	return b
}
