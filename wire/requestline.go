package wire

import "bytes"

// Methods this codec parses (RFC 9110 section 9 and RFC 5789). Parsed
// requests carry one of these constants, so comparing or keeping a method
// costs no allocation.
const (
	MethodGet     = "GET"
	MethodHead    = "HEAD"
	MethodPost    = "POST"
	MethodPut     = "PUT"
	MethodDelete  = "DELETE"
	MethodOptions = "OPTIONS"
	MethodTrace   = "TRACE"
	MethodPatch   = "PATCH"
	MethodConnect = "CONNECT"
)

var knownMethods = [...]string{
	MethodGet, MethodHead, MethodPost, MethodPut, MethodDelete,
	MethodOptions, MethodTrace, MethodPatch, MethodConnect,
}

// parseMethod returns the method constant spelled by b. Methods are
// case-sensitive (RFC 9110 section 9.1): "get" is an unknown method.
func parseMethod(b []byte) (string, error) {
	for _, m := range knownMethods {
		if string(b) == m {
			if m == MethodConnect {
				return "", protoErr(ErrTunnel, 0)
			}
			return m, nil
		}
	}
	if !isToken(b) {
		return "", protoErr(ErrMethod, 0)
	}
	return "", protoErr(ErrMethodUnknown, 0)
}

// parseVersion parses HTTP-version = "HTTP/" DIGIT "." DIGIT (RFC 9112
// section 2.3), case-sensitively. Only major version 1 is supported; a
// higher minor version is answered as 1.1 (section 2.3 allows this).
func parseVersion(b []byte) (minor int, err error) {
	if len(b) != 8 || string(b[:5]) != "HTTP/" || b[6] != '.' ||
		b[5] < '0' || b[5] > '9' || b[7] < '0' || b[7] > '9' {
		return 0, protoErr(ErrVersion, -1)
	}
	if b[5] != '1' {
		return 0, protoErr(ErrVersionUnsupported, -1)
	}
	if b[7] == '0' {
		return 0, nil
	}
	return 1, nil
}

// parseRequestLine parses request-line = method SP request-target SP
// HTTP-version (RFC 9112 section 3) into r. Exactly one SP separates the
// parts; the version is checked first so that a request in another protocol
// gets 505 or 400 rather than a complaint about its method.
func parseRequestLine(r *Request, line []byte) error {
	if i := bytes.IndexByte(line, '\r'); i >= 0 {
		return protoErr(ErrBareCR, i)
	}
	sp1 := bytes.IndexByte(line, ' ')
	if sp1 <= 0 {
		return protoErr(ErrRequestLine, 0)
	}
	sp2 := bytes.IndexByte(line[sp1+1:], ' ')
	if sp2 <= 0 {
		return protoErr(ErrRequestLine, sp1+1)
	}
	sp2 += sp1 + 1
	minor, err := parseVersion(line[sp2+1:])
	if err != nil {
		return err
	}
	if r.Method, err = parseMethod(line[:sp1]); err != nil {
		return err
	}
	r.Minor = minor
	return parseTarget(r, line[sp1+1:sp2])
}

var slash = []byte("/")

// parseTarget classifies the request-target (RFC 9112 section 3.2) and
// splits it into Path and Query. Accepted: origin-form, absolute-form with
// an http or https scheme (section 3.2.2: servers MUST accept it), and
// asterisk-form for OPTIONS. A fragment is dropped, as user agents never
// send one but some tools do. Any byte outside printable ASCII is refused.
func parseTarget(r *Request, t []byte) error {
	for i, c := range t {
		if !isTargetChar[c] {
			return protoErr(ErrTarget, i)
		}
	}
	r.Target, r.Authority = t, nil
	switch {
	case t[0] == '/':
	case len(t) == 1 && t[0] == '*':
		if r.Method != MethodOptions {
			return protoErr(ErrTarget, 0)
		}
		r.Path, r.Query = t, nil
		return nil
	default:
		rest, ok := cutScheme(t)
		if !ok {
			return protoErr(ErrTarget, 0)
		}
		end := 0
		for end < len(rest) && rest[end] != '/' && rest[end] != '?' && rest[end] != '#' {
			end++
		}
		// RFC 9110 section 4.2.1: an http URI with an empty host is
		// invalid; userinfo is refused too (section 4.2.4).
		if !validHost(rest[:end]) {
			return protoErr(ErrTarget, 0)
		}
		r.Authority, t = rest[:end], rest[end:]
		if len(t) == 0 || t[0] != '/' {
			// "http://h?q" has an empty path, which means "/".
			r.Path, r.Query = slash, nil
			if len(t) > 0 && t[0] == '?' {
				r.Query = cutFragment(t[1:])
			}
			return nil
		}
	}
	t = cutFragment(t)
	if q := bytes.IndexByte(t, '?'); q >= 0 {
		r.Path, r.Query = t[:q], t[q+1:]
	} else {
		r.Path, r.Query = t, nil
	}
	return nil
}

// cutScheme strips a case-insensitive "http://" or "https://".
func cutScheme(t []byte) ([]byte, bool) {
	for _, s := range [...]string{"http://", "https://"} {
		if len(t) > len(s) && equalFold(t[:len(s)], s) {
			return t[len(s):], true
		}
	}
	return nil, false
}

func cutFragment(t []byte) []byte {
	if i := bytes.IndexByte(t, '#'); i >= 0 {
		return t[:i]
	}
	return t
}

// validHost checks a Host field value: uri-host [ ":" port ] (RFC 9110
// section 7.2), where uri-host is an IP literal in brackets or a reg-name
// (RFC 3986 section 3.2.2). Userinfo, paths, commas and whitespace are
// refused (RFC 9112 section 3.2: 400 for an invalid Host).
func validHost(v []byte) bool {
	if len(v) == 0 {
		return false
	}
	i := 0
	if v[0] == '[' {
		for i = 1; i < len(v) && v[i] != ']'; i++ {
			if c := v[i]; hexValue[c] < 0 && c != ':' && c != '.' {
				return false
			}
		}
		if i == len(v) || i == 1 {
			return false
		}
		i++
	} else {
		for i < len(v) && v[i] != ':' {
			if !isRegName[v[i]] {
				return false
			}
			i++
		}
		if i == 0 {
			return false
		}
	}
	if i == len(v) {
		return true
	}
	port := v[i+1:]
	if v[i] != ':' || len(port) > 5 {
		return false
	}
	for _, c := range port {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
