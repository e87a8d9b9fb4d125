package wire

// Character classes from RFC 9110 section 5.6.2 (tchar), section 5.5 (field
// values) and RFC 3986 (request targets), as lookup tables.
var (
	isTchar      [256]bool // token characters
	isFieldVchar [256]bool // VCHAR and obs-text: allowed inside a field value
	isTargetChar [256]bool // printable ASCII except SP: allowed in a request target
	isRegName    [256]bool // reg-name characters of RFC 3986, but the comma
	hexValue     [256]int8 // value of a hex digit, or -1
	isQdtext     [256]bool // qdtext of a quoted-string (RFC 9110 section 5.6.4)
)

func init() {
	for c := 0; c < 256; c++ {
		hexValue[c] = -1
	}
	for c := '0'; c <= '9'; c++ {
		hexValue[c] = int8(c - '0')
	}
	for c := 'a'; c <= 'f'; c++ {
		hexValue[c] = int8(c - 'a' + 10)
		hexValue[c-'a'+'A'] = int8(c - 'a' + 10)
	}
	for c := 0x21; c < 0x7f; c++ {
		isFieldVchar[c] = true
		isTargetChar[c] = true
	}
	for c := 0x80; c < 0x100; c++ {
		isFieldVchar[c] = true // obs-text
	}
	for c := 'a'; c <= 'z'; c++ {
		isTchar[c], isTchar[c-'a'+'A'] = true, true
		isRegName[c], isRegName[c-'a'+'A'] = true, true
	}
	for c := '0'; c <= '9'; c++ {
		isTchar[c], isRegName[c] = true, true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		isTchar[c] = true
	}
	// RFC 3986's unreserved, pct-encoded and sub-delims characters, less
	// the comma: a comma is how two Host values get smuggled as one.
	for _, c := range "-._~%!$&'()*+;=" {
		isRegName[c] = true
	}
	isQdtext['\t'], isQdtext[' '] = true, true
	for c := 0x21; c < 0x100; c++ {
		isQdtext[c] = c != '"' && c != '\\' && c != 0x7f
	}
}

// isToken reports whether b is a non-empty token.
func isToken(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if !isTchar[c] {
			return false
		}
	}
	return true
}

// equalFold reports whether b equals the ASCII string s, ignoring case.
func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(b); i++ {
		x, y := b[i], s[i]
		if x == y {
			continue
		}
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// trimOWS strips optional whitespace (SP and HTAB) from both ends.
func trimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}
