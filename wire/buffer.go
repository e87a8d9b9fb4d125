package wire

// inbuf holds bytes received but not yet consumed: buf[r:w].
type inbuf struct {
	buf  []byte
	r, w int
	eof  bool
}

const minBuffer = 4 << 10

func (b *inbuf) unread() []byte { return b.buf[b.r:b.w] }

func (b *inbuf) consume(n int) {
	if b.r += n; b.r == b.w {
		b.r, b.w = 0, 0
	}
}

// space returns at least min bytes of free space after the unread bytes,
// moving them to the front or growing the buffer as needed. Parsers keep
// offsets relative to b.r, so moving the bytes does not disturb them.
func (b *inbuf) space(min int) []byte {
	if len(b.buf)-b.w >= min {
		return b.buf[b.w:]
	}
	if b.r > 0 {
		b.w = copy(b.buf, b.buf[b.r:b.w])
		b.r = 0
	}
	if len(b.buf)-b.w < min {
		nb := make([]byte, max(2*len(b.buf), b.w+min, minBuffer))
		copy(nb, b.buf[:b.w])
		b.buf = nb
	}
	return b.buf[b.w:]
}

// release drops the buffer if it holds nothing, so an idle connection
// keeps no receive memory.
func (b *inbuf) release() {
	if b.r == b.w {
		b.buf, b.r, b.w = nil, 0, 0
	}
}
