package api

import (
	"bytes"
	"encoding/base64"
	"errors"
	"unicode/utf8"

	"kvhttp/server"
	"kvhttp/store"
)

// Listing defaults.
const (
	DefaultListLimit    = 1000  // items per page when the query names none
	DefaultMaxListLimit = 10000 // the most a query may ask for
	streamBatchBytes    = 32 << 10
)

// errBatchFull pauses a listing so that what it gathered can be sent.
var errBatchFull = errors.New("api: batch full")

// list is GET /kv/?prefix=P&after=K&limit=N&keys: one page of keys in byte
// order, with the cursor of the next page in a Link field and in the body.
//
// The page is streamed: items are read from the store in batches of about
// 32 KiB, each in its own short read, and sent before the next is read, so
// a page holds no more than a batch in memory and a slow client never holds
// a read transaction open. A first, cheap pass finds where the page ends,
// so that the Link field can go out before the body. Keys written between
// the two passes before that end appear in this page; none is skipped or
// repeated across pages.
func (a *API) list(w *server.ResponseWriter, r *server.Request) {
	q, err := a.parseListQuery(r.Query)
	if err != nil {
		a.writeProblem(w, err)
		return
	}
	end, more, err := a.pageEnd(r, &q)
	if err != nil {
		a.writeProblem(w, err)
		return
	}
	text := negotiate(r.Header.Get("Accept")) == formatText
	if text {
		w.Header().Add("Content-Type", "text/plain; charset=utf-8")
	} else {
		w.Header().Add("Content-Type", "application/json")
	}
	if more {
		link := append(q.appendNextLink(append(w.Buffer()[:0], '<'), end), `>; rel="next"`...)
		w.Header().AddBytes("Link", link)
	}
	enc := itemEncoder{text: text, keysOnly: q.keysOnly}
	b := w.Buffer()[:0]
	if !text {
		b = append(b, `{"items":[`...)
	}
	b, err = a.stream(w, r, store.ListOptions{Prefix: q.prefix, After: q.after}, b, func(b []byte, it store.Item) ([]byte, error) {
		if more && bytes.Compare(it.Key, end) > 0 {
			return b, errPageEnd
		}
		return enc.append(b, it), nil
	})
	if errors.Is(err, errGone) {
		return
	}
	if err != nil && !errors.Is(err, errPageEnd) {
		a.failList(w, err)
		return
	}
	if !text {
		if more {
			b = appendBytesField(append(b, "],"...), "next", end)
		} else {
			b = append(b, `],"next":null`...)
		}
		b = append(b, "}\n"...)
	}
	w.SetBuffer(b)
}

// stream calls add for each item that opts selects (its Limit is
// ignored), in key order, to append the item to the body. It reads the
// store in batches of about streamBatchBytes, each in a short read of its
// own, and sends each batch (w.Flush) before reading the next, so the
// memory a listing holds is bounded whatever the store holds. add may
// return an error to stop. stream returns the body not yet sent and the
// first error: add's, the store's, or errGone if the client went away.
func (a *API) stream(w *server.ResponseWriter, r *server.Request, opts store.ListOptions, b []byte, add func(b []byte, it store.Item) ([]byte, error)) ([]byte, error) {
	cursor := append([]byte(nil), opts.After...)
	for {
		opts.After, opts.Limit = cursor, 0
		err := a.store.List(r.Context(), opts, func(it store.Item) error {
			var err error
			if b, err = add(b, it); err != nil {
				return err
			}
			cursor = append(cursor[:0], it.Key...)
			if len(b) >= streamBatchBytes {
				return errBatchFull
			}
			return nil
		})
		if !errors.Is(err, errBatchFull) {
			return b, err
		}
		w.SetBuffer(b)
		if w.Flush() != nil {
			return nil, errGone
		}
		b = w.Buffer()
	}
}

// errGone: the client went away in the middle of a streamed body.
var errGone = errors.New("api: client gone")

// errPageEnd stops the second pass at the end found by the first.
var errPageEnd = errors.New("api: end of page")

// pageEnd finds the last key of the page (the cursor of the next one) and
// whether there is a next page, reading keys only.
func (a *API) pageEnd(r *server.Request, q *listQuery) (end []byte, more bool, err error) {
	n := 0
	err = a.store.List(r.Context(), store.ListOptions{Prefix: q.prefix, After: q.after, Limit: q.limit + 1}, func(it store.Item) error {
		if n++; n == q.limit {
			end = append(end, it.Key...)
		}
		return nil
	})
	return end, n > q.limit, err
}

// failList ends a listing whose store failed: with a problem if nothing was
// sent yet, else by aborting the stream so the client sees it incomplete.
// (Abort does nothing to a response not yet streaming.)
func (a *API) failList(w *server.ResponseWriter, err error) {
	a.logger().Error("listing failed", "err", err)
	w.Abort()
	a.writeProblem(w, err)
}

// itemEncoder writes listing items as JSON objects or key:value lines.
type itemEncoder struct {
	text, keysOnly bool
	n              int
}

// append encodes one item. In JSON, keys and values that are valid UTF-8
// are strings; others are base64, marked by the field name (key_base64,
// value_base64). The etag field is the item's ETag, ready for If-Match.
func (e *itemEncoder) append(b []byte, it store.Item) []byte {
	e.n++
	if e.text {
		b = append(b, it.Key...)
		if !e.keysOnly {
			b = append(append(b, ':'), it.Value...)
		}
		return append(b, '\n')
	}
	if e.n > 1 {
		b = append(b, ',')
	}
	b = appendBytesField(append(b, '{'), "key", it.Key)
	if !e.keysOnly {
		b = appendBytesField(append(b, ','), "value", it.Value)
		var tag [24]byte
		b = appendJSONString(append(b, `,"etag":`...), appendETag(tag[:0], it.Version))
	}
	return append(b, '}')
}

// appendBytesField appends "name":"text", or "name_base64":"..." when the
// bytes are not UTF-8 text.
func appendBytesField(b []byte, name string, v []byte) []byte {
	if utf8.Valid(v) {
		b = append(append(append(b, '"'), name...), `":`...)
		return appendJSONString(b, v)
	}
	b = append(append(append(b, '"'), name...), `_base64":"`...)
	return append(base64.StdEncoding.AppendEncode(b, v), '"')
}

// listRoute serves /kv/ (and /kv).
func (a *API) listRoute(w *server.ResponseWriter, r *server.Request) {
	if r.Method != "GET" && r.Method != "HEAD" {
		a.otherMethod(w, r, allowList)
		return
	}
	a.list(w, r)
}
