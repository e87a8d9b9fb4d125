package client

import (
	"context"
	"strconv"

	"kvhttp/wire"
)

// Item is a stored key and value, as the server returned them.
type Item struct {
	Key         string
	Value       []byte // nil from Head
	ContentType string
	ETag        string // strong entity tag, ready for an If-Match
	Length      int64  // of the value, from Head and Get
}

// PutOptions qualify a Put. The zero value writes unconditionally.
type PutOptions struct {
	ContentType string // stored with the value, sent back by Get
	IfMatch     string // "*" (update only) or an ETag (compare-and-swap)
	IfNoneMatch string // "*" (create only) or an ETag
}

// Written describes an accepted write.
type Written struct {
	ETag    string // of the value now stored
	Created bool   // the key was new
}

// keyTarget returns the path of a key's resource.
func keyTarget(key string) string {
	return "/kv/" + escape(key)
}

// escape percent-encodes every byte outside RFC 3986's unreserved set, so
// any key round-trips through a path or a query.
func escape(s string) string {
	const hex = "0123456789ABCDEF"
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~' {
			b = append(b, c)
		} else {
			b = append(b, '%', hex[c>>4], hex[c&0xf])
		}
	}
	return string(b)
}

// call sends req and returns its response if its status is 2xx (or one of
// also), else an *Error.
func (c *Client) call(ctx context.Context, req *Request, also ...int) (*Response, error) {
	resp, err := c.Do(ctx, req)
	if err != nil {
		return nil, err
	}
	if resp.Status/100 == 2 {
		return resp, nil
	}
	for _, s := range also {
		if resp.Status == s {
			return resp, nil
		}
	}
	return nil, ErrorOf(req, resp)
}

// Get returns the value of key; an error matching ErrNotFound if absent.
func (c *Client) Get(ctx context.Context, key string) (*Item, error) {
	return c.read(ctx, wire.MethodGet, key)
}

// Head returns what Get would, but the value.
func (c *Client) Head(ctx context.Context, key string) (*Item, error) {
	return c.read(ctx, wire.MethodHead, key)
}

func (c *Client) read(ctx context.Context, method, key string) (*Item, error) {
	if key == "" {
		return nil, ErrEmptyKey
	}
	resp, err := c.call(ctx, &Request{Method: method, Target: keyTarget(key)})
	if err != nil {
		return nil, err
	}
	it := &Item{
		Key:         key,
		Value:       resp.Body,
		ContentType: string(resp.Header.Get("Content-Type")),
		ETag:        string(resp.Header.Get("ETag")),
	}
	it.Length, _ = strconv.ParseInt(string(resp.Header.Get("Content-Length")), 10, 64)
	switch {
	case method == wire.MethodHead:
		it.Value = nil
	case it.Value == nil:
		it.Value = []byte{} // an empty value, not none
	}
	return it, nil
}

// Put writes value under key. With opts.IfMatch or opts.IfNoneMatch the
// write happens only if the condition holds, atomically; otherwise the
// error matches ErrPreconditionFailed.
func (c *Client) Put(ctx context.Context, key string, value []byte, opts *PutOptions) (Written, error) {
	if key == "" {
		return Written{}, ErrEmptyKey
	}
	req := &Request{Method: wire.MethodPut, Target: keyTarget(key), Body: value}
	if opts != nil {
		addIf(&req.Header, "Content-Type", opts.ContentType)
		addIf(&req.Header, "If-Match", opts.IfMatch)
		addIf(&req.Header, "If-None-Match", opts.IfNoneMatch)
	}
	resp, err := c.call(ctx, req)
	if err != nil {
		return Written{}, err
	}
	return Written{ETag: string(resp.Header.Get("ETag")), Created: resp.Status == 201}, nil
}

// Create writes value under key only if key is absent; else the error
// matches ErrPreconditionFailed.
func (c *Client) Create(ctx context.Context, key string, value []byte) (Written, error) {
	return c.Put(ctx, key, value, &PutOptions{IfNoneMatch: "*"})
}

// Update writes value under key only if key exists; else the error
// matches ErrPreconditionFailed.
func (c *Client) Update(ctx context.Context, key string, value []byte) (Written, error) {
	return c.Put(ctx, key, value, &PutOptions{IfMatch: "*"})
}

// Delete removes key: if ifMatch is not empty, only while its ETag is
// ifMatch (or it exists, for "*"). Deleting an absent key is an error
// matching ErrNotFound.
func (c *Client) Delete(ctx context.Context, key, ifMatch string) error {
	if key == "" {
		return ErrEmptyKey
	}
	req := &Request{Method: wire.MethodDelete, Target: keyTarget(key)}
	addIf(&req.Header, "If-Match", ifMatch)
	_, err := c.call(ctx, req)
	return err
}

// Health reports whether the server and its store answer.
func (c *Client) Health(ctx context.Context) error {
	_, err := c.call(ctx, &Request{Method: wire.MethodGet, Target: "/healthz"})
	return err
}

func addIf(h *wire.Header, name, value string) {
	if value != "" {
		h.Add(name, value)
	}
}
