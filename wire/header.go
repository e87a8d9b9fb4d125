package wire

import "iter"

// Header is an ordered list of field lines. Names and values live in one
// byte arena owned by the Header, so parsing or adding fields does not
// allocate once the arena has grown to fit. Lookups ignore ASCII case, as
// field names are case-insensitive (RFC 9110 section 5.1).
//
// The zero Header is empty and ready to use. Slices returned by its methods
// alias the arena: they stay valid until the Header is reset or reused.
type Header struct {
	buf    []byte
	fields []fieldRef
}

// fieldRef locates one field line's name and value in the arena.
type fieldRef struct {
	nameStart, nameEnd, valueStart, valueEnd int
}

// Len returns the number of field lines.
func (h *Header) Len() int { return len(h.fields) }

// Field returns the name and value of the i-th field line.
func (h *Header) Field(i int) (name, value []byte) {
	f := h.fields[i]
	return h.buf[f.nameStart:f.nameEnd:f.nameEnd], h.buf[f.valueStart:f.valueEnd:f.valueEnd]
}

// All iterates over the field lines in order.
func (h *Header) All() iter.Seq2[[]byte, []byte] {
	return func(yield func(name, value []byte) bool) {
		for i := range h.fields {
			if !yield(h.Field(i)) {
				return
			}
		}
	}
}

// Lookup returns the value of the first field line named name.
func (h *Header) Lookup(name string) (value []byte, ok bool) {
	for i := range h.fields {
		f := h.fields[i]
		if equalFold(h.buf[f.nameStart:f.nameEnd], name) {
			return h.buf[f.valueStart:f.valueEnd:f.valueEnd], true
		}
	}
	return nil, false
}

// Get returns the value of the first field line named name, or nil.
func (h *Header) Get(name string) []byte {
	v, _ := h.Lookup(name)
	return v
}

// Has reports whether a field line named name is present.
func (h *Header) Has(name string) bool {
	_, ok := h.Lookup(name)
	return ok
}

// Count returns how many field lines are named name.
func (h *Header) Count(name string) int {
	n := 0
	for i := range h.fields {
		f := h.fields[i]
		if equalFold(h.buf[f.nameStart:f.nameEnd], name) {
			n++
		}
	}
	return n
}

// Add appends a field line. Fields that are not valid on the wire (a name
// that is not a token, a value with CR, LF or another control character)
// are kept here but never encoded, so an application cannot split a message.
func (h *Header) Add(name, value string) { addField(h, name, value) }

// AddBytes is Add with a byte-slice value.
func (h *Header) AddBytes(name string, value []byte) { addField(h, name, value) }

func addField[V string | []byte](h *Header, name string, value V) {
	ns := len(h.buf)
	h.buf = append(h.buf, name...)
	vs := len(h.buf)
	h.buf = append(h.buf, value...)
	h.fields = append(h.fields, fieldRef{ns, vs, vs, len(h.buf)})
}

// Set replaces every field line named name with one line.
func (h *Header) Set(name, value string) {
	h.Del(name)
	h.Add(name, value)
}

// Del removes every field line named name.
func (h *Header) Del(name string) {
	kept := h.fields[:0]
	for _, f := range h.fields {
		if !equalFold(h.buf[f.nameStart:f.nameEnd], name) {
			kept = append(kept, f)
		}
	}
	h.fields = kept
}

// Reset empties the Header, keeping its memory for reuse.
func (h *Header) Reset() {
	h.buf = h.buf[:0]
	h.fields = h.fields[:0]
}

// HasToken reports whether any field line named name holds token in its
// comma-separated list (as Connection does), ignoring case.
func (h *Header) HasToken(name, token string) bool {
	for i := range h.fields {
		f := h.fields[i]
		if !equalFold(h.buf[f.nameStart:f.nameEnd], name) {
			continue
		}
		found := false
		forEachElement(h.buf[f.valueStart:f.valueEnd], func(e []byte) bool {
			found = equalFold(e, token)
			return !found
		})
		if found {
			return true
		}
	}
	return false
}

// forEachElement calls fn for each non-empty element of a comma-separated
// list (RFC 9110 section 5.6.1), trimmed of whitespace, until fn returns
// false. Empty elements are skipped, as recipients must accept them.
func forEachElement(v []byte, fn func([]byte) bool) {
	for len(v) > 0 {
		i := 0
		for i < len(v) && v[i] != ',' {
			i++
		}
		if e := trimOWS(v[:i]); len(e) > 0 && !fn(e) {
			return
		}
		if i == len(v) {
			return
		}
		v = v[i+1:]
	}
}
