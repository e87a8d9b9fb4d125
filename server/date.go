package server

import (
	"sync/atomic"
	"time"
)

// clock caches the Date field value (RFC 9110 section 6.6.1), which changes
// once a second, so that a response costs no time formatting.
type clock struct {
	cur atomic.Pointer[dateText]
}

type dateText struct {
	unix int64
	text []byte // IMF-fixdate, e.g. "Wed, 25 Nov 2026 09:14:00 GMT"
}

// date returns the Date value for now. The slice must not be modified.
func (c *clock) date(now time.Time) []byte {
	sec := now.Unix()
	if d := c.cur.Load(); d != nil && d.unix == sec {
		return d.text
	}
	d := &dateText{unix: sec, text: now.UTC().AppendFormat(make([]byte, 0, 29), "Mon, 02 Jan 2006 15:04:05 GMT")}
	c.cur.Store(d)
	return d.text
}
