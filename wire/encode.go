package wire

import "strconv"

// appendStatusLine appends status-line = HTTP-version SP status-code SP
// [ reason-phrase ] CRLF. A server always sends its own version, 1.1
// (RFC 9112 section 2.3), whatever the request's minor version.
func appendStatusLine(dst []byte, status int) []byte {
	dst = append(dst, "HTTP/1.1 "...)
	dst = append(dst, byte('0'+status/100%10), byte('0'+status/10%10), byte('0'+status%10), ' ')
	dst = append(dst, StatusText(status)...)
	return append(dst, "\r\n"...)
}

// appendFields appends h's field lines, leaving out the fields that frame
// the message or govern the connection (the codec writes those itself) and
// any field that is not valid on the wire.
func appendFields(dst []byte, h *Header) []byte {
	if h == nil {
		return dst
	}
	for i := range h.fields {
		name, value := h.Field(i)
		if codecOwned(name) || !validField(name, value) {
			continue
		}
		dst = append(dst, name...)
		dst = append(dst, ": "...)
		dst = append(dst, value...)
		dst = append(dst, "\r\n"...)
	}
	return dst
}

// codecOwned reports whether a field is written only by the codec.
func codecOwned(name []byte) bool {
	return equalFold(name, "Content-Length") || equalFold(name, "Transfer-Encoding") ||
		equalFold(name, "Connection")
}

// appendContentLength appends a Content-Length field line.
func appendContentLength(dst []byte, n int64) []byte {
	dst = append(dst, "Content-Length: "...)
	dst = strconv.AppendInt(dst, n, 10)
	return append(dst, "\r\n"...)
}

// validTarget reports whether t can be sent as a request-target.
func validTarget(t string) bool {
	if t == "" {
		return false
	}
	for i := 0; i < len(t); i++ {
		if !isTargetChar[t[i]] {
			return false
		}
	}
	return true
}
