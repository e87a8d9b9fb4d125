package api

import "testing"

func TestAppendJSONString(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", `""`},
		{"plain", `"plain"`},
		{"q\"b\\s/", `"q\"b\\s/"`},
		{"\n\r\t\x00\x1f", `"\n\r\t\u0000\u001f"`},
		{"한국어", `"한국어"`},
		{"bad\xffbyte\xc3", `"bad\ufffdbyte\ufffd"`},
	}
	for _, tc := range tests {
		if got := string(appendJSONString(nil, []byte(tc.in))); got != tc.want {
			t.Errorf("%q: got %s; want %s", tc.in, got, tc.want)
		}
	}
}

func TestNegotiate(t *testing.T) {
	tests := []struct {
		accept string
		want   format
	}{
		{"", formatJSON},
		{"*/*", formatJSON},
		{"text/plain", formatText},
		{"TEXT/Plain", formatText},
		{"text/*", formatText},
		{"text/html", formatJSON},
		{"text/plain;q=0.9, application/json", formatJSON},
		{"text/plain, application/json;q=0.9", formatText},
		{"text/plain;q=0.5, */*;q=0.1", formatText},
		{"text/plain;q=bogus", formatJSON},
		{"text/plain;q=0.001, application/json;q=0", formatText},
		{"text/*;q=0.2, text/plain;q=0", formatJSON},
	}
	for _, tc := range tests {
		if got := negotiate([]byte(tc.accept)); got != tc.want {
			t.Errorf("%q: got %v; want %v", tc.accept, got, tc.want)
		}
	}
}
