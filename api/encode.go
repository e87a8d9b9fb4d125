package api

import (
	"bytes"
	"strings"
	"unicode/utf8"
)

const hexDigits = "0123456789abcdef"

// Separators for bytes.Cut and bytes.Trim.
var (
	comma, semicolon, slash, equals = []byte(","), []byte(";"), []byte("/"), []byte("=")
	ows                             = " \t"
)

// appendJSONString appends s as a JSON string (RFC 8259). Bytes that are
// not valid UTF-8 become U+FFFD, as JSON text must be Unicode.
func appendJSONString(dst, s []byte) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// Formats a listing of pairs can take.
type format uint8

const (
	formatJSON format = iota // {"key":"value",...}, the default
	formatText               // key:value lines, the origin's file format
)

// negotiate picks the listing format from an Accept field (RFC 9110
// section 12.5.1): text/plain when the client prefers it to
// application/json, JSON otherwise. A client that accepts neither gets
// JSON rather than 406, which section 12.5.1 allows.
func negotiate(accept []byte) format {
	if len(accept) == 0 {
		return formatJSON
	}
	if qualityOf(accept, "text", "plain") > qualityOf(accept, "application", "json") {
		return formatText
	}
	return formatJSON
}

// qualityOf returns the weight (0 to 1000) that an Accept value gives to
// typ/sub, from its most specific matching media range.
func qualityOf(accept []byte, typ, sub string) int {
	best, bestSpecificity := 0, -1
	for len(accept) > 0 {
		var elem []byte
		elem, accept, _ = bytes.Cut(accept, comma)
		rng, params, _ := bytes.Cut(elem, semicolon)
		t, s, _ := bytes.Cut(bytes.Trim(rng, ows), slash)
		specificity := 0
		switch {
		case strings.EqualFold(string(t), typ) && strings.EqualFold(string(s), sub):
			specificity = 2
		case strings.EqualFold(string(t), typ) && string(s) == "*":
			specificity = 1
		case string(t) == "*" && string(s) == "*":
		default:
			continue
		}
		if specificity > bestSpecificity {
			best, bestSpecificity = weight(params), specificity
		}
	}
	return best
}

// weight parses the q parameter of a media range ("q=0.5" is 500); a
// range without one weighs 1000.
func weight(params []byte) int {
	for len(params) > 0 {
		var p []byte
		p, params, _ = bytes.Cut(params, semicolon)
		name, value, _ := bytes.Cut(bytes.Trim(p, ows), equals)
		if !strings.EqualFold(string(bytes.Trim(name, ows)), "q") {
			continue
		}
		value = bytes.Trim(value, ows)
		q, scale := 0, 1000
		for i, c := range value {
			switch {
			case c >= '0' && c <= '9' && i == 0:
				q = int(c-'0') * 1000
			case c >= '0' && c <= '9' && i >= 2 && i <= 4:
				scale /= 10
				q += int(c-'0') * scale
			case c == '.' && i == 1:
			default:
				return 0 // malformed: treat as not acceptable
			}
		}
		return min(q, 1000)
	}
	return 1000
}
