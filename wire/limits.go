package wire

// Defaults for the zero Limits.
const (
	DefaultMaxRequestLine  = 8 << 10  // 414 beyond
	DefaultMaxHeaderBytes  = 16 << 10 // 431 beyond
	DefaultMaxHeaderFields = 100      // 431 beyond
	DefaultMaxBodyBytes    = 1 << 20  // 413 beyond
	DefaultMaxChunkLine    = 4 << 10  // chunk size plus extensions; 400 beyond
)

// Limits bound what a connection accepts from its peer. The zero value means
// the defaults above; a negative MaxBodyBytes means no limit on bodies.
type Limits struct {
	MaxRequestLine  int   // the start line, without its CRLF
	MaxHeaderBytes  int   // the field section (and, separately, a trailer section)
	MaxHeaderFields int   // field lines in the header (and in a trailer) section
	MaxBodyBytes    int64 // the decoded body
	MaxChunkLine    int   // a chunk-size line with its extensions
}

func orDefault(v, def int) int {
	if v <= 0 {
		return def
	}
	return v
}

func (l *Limits) requestLine() int  { return orDefault(l.MaxRequestLine, DefaultMaxRequestLine) }
func (l *Limits) headerBytes() int  { return orDefault(l.MaxHeaderBytes, DefaultMaxHeaderBytes) }
func (l *Limits) headerFields() int { return orDefault(l.MaxHeaderFields, DefaultMaxHeaderFields) }
func (l *Limits) chunkLine() int    { return orDefault(l.MaxChunkLine, DefaultMaxChunkLine) }

// bodyBytes returns the body limit, or -1 for none.
func (l *Limits) bodyBytes() int64 {
	switch {
	case l.MaxBodyBytes < 0:
		return -1
	case l.MaxBodyBytes == 0:
		return DefaultMaxBodyBytes
	}
	return l.MaxBodyBytes
}
