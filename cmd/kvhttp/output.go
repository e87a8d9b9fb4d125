package main

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"unicode/utf8"

	"kvhttp/client"
)

// jsonItem is how the CLI prints an item with --json: like the server's
// listings, bytes that are not UTF-8 go as base64 under a *_base64 name.
type jsonItem struct {
	Key         *string `json:"key,omitempty"`
	KeyBase64   *string `json:"key_base64,omitempty"`
	Value       *string `json:"value,omitempty"`
	ValueBase64 *string `json:"value_base64,omitempty"`
	ETag        string  `json:"etag,omitempty"`
	ContentType string  `json:"content_type,omitempty"`
	Length      *int64  `json:"length,omitempty"`
	Created     *bool   `json:"created,omitempty"`
}

// textOr returns (text, nil) for UTF-8 bytes, (nil, base64) otherwise.
func textOr(b []byte) (text, b64 *string) {
	s := string(b)
	if utf8.ValidString(s) {
		return &s, nil
	}
	e := base64.StdEncoding.EncodeToString(b)
	return nil, &e
}

func itemJSON(it *client.Item, withValue, withLength bool) jsonItem {
	j := jsonItem{ETag: it.ETag, ContentType: it.ContentType}
	j.Key, j.KeyBase64 = textOr([]byte(it.Key))
	if withValue {
		j.Value, j.ValueBase64 = textOr(it.Value)
	}
	if withLength {
		j.Length = &it.Length
	}
	return j
}

// writeJSON prints v as one line of JSON.
func writeJSON(w io.Writer, v any) error {
	return json.NewEncoder(w).Encode(v)
}
