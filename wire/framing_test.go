package wire

import (
	"errors"
	"testing"
)

func TestFrame(t *testing.T) {
	req := Start{Method: MethodPost, Minor: 1}
	tests := []struct {
		name   string
		start  Start
		fields []string // name, value, name, value...
		want   Framing
		err    error
	}{
		{"request without fields", req, nil, Framing{Kind: BodyNone}, nil},
		{"request length", req, []string{"Content-Length", "10"}, Framing{Kind: BodyLength, Length: 10}, nil},
		{"request chunked", req, []string{"Transfer-Encoding", "chunked"}, Framing{Kind: BodyChunked}, nil},
		{"request chunked list", req, []string{"Transfer-Encoding", " , chunked ,"}, Framing{Kind: BodyChunked}, nil},
		{"request both", req, []string{"Transfer-Encoding", "chunked", "Content-Length", "1"}, Framing{}, ErrLengthAndChunked},
		{"request 1.0 chunked", Start{Method: MethodPost}, []string{"Transfer-Encoding", "chunked"}, Framing{}, ErrTransferHTTP10},
		{"largest length", req, []string{"Content-Length", "999999999999999999"}, Framing{Kind: BodyLength, Length: 999999999999999999}, nil},
		{"leading zeros past 18 digits", req, []string{"Content-Length", "0000999999999999999999"}, Framing{Kind: BodyLength, Length: 999999999999999999}, nil},
		{"length beyond int64", req, []string{"Content-Length", "99999999999999999999"}, Framing{}, ErrContentLength},
		{"long length with a letter", req, []string{"Content-Length", "9999999999999999999x"}, Framing{}, ErrContentLength},
		{"response to head", Start{Response: true, Method: MethodHead, Status: 200, Minor: 1},
			[]string{"Content-Length", "10"}, Framing{Kind: BodyNone}, nil},
		{"response 1xx", Start{Response: true, Method: MethodGet, Status: 100, Minor: 1}, nil, Framing{Kind: BodyNone}, nil},
		{"response 204", Start{Response: true, Method: MethodGet, Status: 204, Minor: 1},
			[]string{"Transfer-Encoding", "chunked"}, Framing{Kind: BodyNone}, nil},
		{"response 304", Start{Response: true, Method: MethodGet, Status: 304, Minor: 1}, nil, Framing{Kind: BodyNone}, nil},
		{"response to connect", Start{Response: true, Method: MethodConnect, Status: 200, Minor: 1}, nil, Framing{}, ErrTunnel},
		{"response until close", Start{Response: true, Method: MethodGet, Status: 200, Minor: 1}, nil, Framing{Kind: BodyClose}, nil},
		{"response both", Start{Response: true, Method: MethodGet, Status: 200, Minor: 1},
			[]string{"Content-Length", "3", "Transfer-Encoding", "chunked"}, Framing{Kind: BodyChunked, Close: true}, nil},
		{"response gzip", Start{Response: true, Method: MethodGet, Status: 200, Minor: 1},
			[]string{"Transfer-Encoding", "gzip"}, Framing{Kind: BodyClose, Close: true}, nil},
		{"response bad length", Start{Response: true, Method: MethodGet, Status: 200, Minor: 1},
			[]string{"Content-Length", "x"}, Framing{}, ErrContentLength},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var h Header
			for i := 0; i < len(tc.fields); i += 2 {
				h.Add(tc.fields[i], tc.fields[i+1])
			}
			f, err := Frame(tc.start, &h)
			if !errors.Is(err, tc.err) || f != tc.want {
				t.Fatalf("got %+v, %v; want %+v, %v", f, err, tc.want, tc.err)
			}
		})
	}
}

func TestHeader(t *testing.T) {
	var h Header
	h.Add("Content-Type", "text/plain")
	h.AddBytes("x-a", []byte("1"))
	h.Add("X-A", "2")
	if got := string(h.Get("content-type")); got != "text/plain" {
		t.Errorf("Get: got %q; want text/plain", got)
	}
	if got := h.Count("X-a"); got != 2 {
		t.Errorf("Count: got %d; want 2", got)
	}
	h.Set("x-A", "3")
	if got := fieldsString(&h); got != `Content-Type="text/plain";x-A="3";` {
		t.Errorf("after Set: got %s", got)
	}
	if _, ok := h.Lookup("Missing"); ok || h.Has("Missing") {
		t.Error("Lookup of a missing field: got ok")
	}
	h.Del("content-type")
	if h.Len() != 1 {
		t.Errorf("Len after Del: got %d; want 1", h.Len())
	}
	h.Reset()
	if h.Len() != 0 {
		t.Errorf("Len after Reset: got %d; want 0", h.Len())
	}
}
