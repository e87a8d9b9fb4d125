package client

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"iter"
	"strconv"
	"strings"

	"kvhttp/wire"
)

// ListOptions select the keys List iterates over.
type ListOptions struct {
	Prefix   string // only keys starting with Prefix
	After    string // only keys after After
	PageSize int    // items per request; 0 means the server's default
	KeysOnly bool   // Items without Value or ETag
}

// page is a listing page as the server sends it. Keys and values that are
// not UTF-8 come base64-encoded under a *_base64 name.
type page struct {
	Items []struct {
		Key         *string `json:"key"`
		KeyBase64   *string `json:"key_base64"`
		Value       *string `json:"value"`
		ValueBase64 *string `json:"value_base64"`
		ETag        string  `json:"etag"`
	} `json:"items"`
	Next       *string `json:"next"`
	NextBase64 *string `json:"next_base64"`
}

// List iterates over the keys opts selects, in byte order, requesting one
// page at a time and following each page's cursor to the next. It yields
// the first error it meets, and stops.
func (c *Client) List(ctx context.Context, opts ListOptions) iter.Seq2[*Item, error] {
	return func(yield func(*Item, error) bool) {
		after := opts.After
		for first := true; ; first = false {
			target := listTarget(opts, after, first)
			resp, err := c.call(ctx, &Request{Method: wire.MethodGet, Target: target})
			if err != nil {
				yield(nil, err)
				return
			}
			var p page
			if err := json.Unmarshal(resp.Body, &p); err != nil {
				yield(nil, fmt.Errorf("client: listing %s: %w", target, err))
				return
			}
			for _, raw := range p.Items {
				key, err := either(raw.Key, raw.KeyBase64)
				if err != nil {
					yield(nil, fmt.Errorf("client: listing %s: key: %w", target, err))
					return
				}
				it := &Item{Key: string(key), ETag: raw.ETag}
				if !opts.KeysOnly {
					if it.Value, err = either(raw.Value, raw.ValueBase64); err != nil {
						yield(nil, fmt.Errorf("client: listing %s: value of %q: %w", target, key, err))
						return
					}
					it.Length = int64(len(it.Value))
				}
				if !yield(it, nil) {
					return
				}
			}
			next, err := either(p.Next, p.NextBase64)
			if err != nil || next == nil {
				if err != nil {
					yield(nil, fmt.Errorf("client: listing %s: next: %w", target, err))
				}
				return
			}
			after = string(next)
		}
	}
}

// either decodes a field sent as text or as base64; nil if neither came.
func either(text, b64 *string) ([]byte, error) {
	switch {
	case text != nil:
		return []byte(*text), nil
	case b64 != nil:
		return base64.StdEncoding.DecodeString(*b64)
	}
	return nil, nil
}

func listTarget(opts ListOptions, after string, first bool) string {
	var b strings.Builder
	b.WriteString("/kv/?")
	sep := ""
	param := func(name, value string) {
		b.WriteString(sep + name + "=" + escape(value))
		sep = "&"
	}
	if opts.Prefix != "" {
		param("prefix", opts.Prefix)
	}
	if after != "" || !first {
		param("after", after)
	}
	if opts.PageSize > 0 {
		param("limit", strconv.Itoa(opts.PageSize))
	}
	if opts.KeysOnly {
		b.WriteString(sep + "keys")
	}
	return b.String()
}
