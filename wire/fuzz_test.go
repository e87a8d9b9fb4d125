package wire

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
)

// outcome summarises a run for comparison: what was seen and how it ended.
func outcome(reqs []seen, err error) string {
	var pe *ProtocolError
	if errors.As(err, &pe) {
		return fmt.Sprintf("%+v / %d %v", reqs, pe.Status, pe.Err)
	}
	return fmt.Sprintf("%+v / %v", reqs, err)
}

// FuzzServerConn feeds arbitrary bytes to a ServerConn whole and in pieces
// of a fuzzed size. It must never panic or stall, must refuse with a
// ProtocolError rather than any other error, and must reach the same
// result however the bytes are split.
func FuzzServerConn(f *testing.F) {
	for _, tc := range validRequests {
		f.Add([]byte(tc.in), uint8(1))
		f.Add([]byte(tc.in+tc.in), uint8(3))
	}
	for _, tc := range malformedRequests {
		if len(tc.in) < 4096 {
			f.Add([]byte(tc.in), uint8(2))
		}
	}
	lim := Limits{MaxRequestLine: 256, MaxHeaderBytes: 512, MaxHeaderFields: 8, MaxBodyBytes: 1024, MaxChunkLine: 64}
	f.Fuzz(func(t *testing.T, data []byte, step uint8) {
		whole, errWhole := serve(t, lim, string(data), 0)
		if errWhole != nil {
			var pe *ProtocolError
			if !errors.As(errWhole, &pe) || pe.Status < 400 || pe.Status > 599 {
				t.Fatalf("got error %v; want a *ProtocolError with a 4xx or 5xx status", errWhole)
			}
		}
		pieces, errPieces := serve(t, lim, string(data), int(step%16)+1)
		if a, b := outcome(whole, errWhole), outcome(pieces, errPieces); a != b {
			t.Fatalf("whole: %s\npieces of %d: %s", a, step%16+1, b)
		}
	})
}

// FuzzChunkedBody fuzzes the chunked decoder behind a valid head.
func FuzzChunkedBody(f *testing.F) {
	for _, tc := range malformedRequests {
		if head := chunked(""); len(tc.in) > len(head) && tc.in[:len(head)] == head && len(tc.in) < 4096 {
			f.Add([]byte(tc.in[len(head):]))
		}
	}
	f.Add([]byte("5;a=b\r\nhello\r\n0\r\nX: y\r\n\r\n"))
	f.Add([]byte("A\r\n0123456789\r\n000\r\n\r\n"))
	f.Fuzz(func(t *testing.T, body []byte) {
		in := chunked(string(body))
		whole, errWhole := serve(t, Limits{}, in, 0)
		bytewise, errBytewise := serve(t, Limits{}, in, 1)
		if a, b := outcome(whole, errWhole), outcome(bytewise, errBytewise); a != b {
			t.Fatalf("whole: %s\nbytewise: %s", a, b)
		}
	})
}

// FuzzClientConn feeds arbitrary bytes as the answer to a GET and a HEAD.
func FuzzClientConn(f *testing.F) {
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhiHTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n"), uint8(1))
	f.Add([]byte("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n"), uint8(2))
	f.Add([]byte("HTTP/1.0 200 OK\r\n\r\nuntil close"), uint8(3))
	f.Fuzz(func(t *testing.T, data []byte, step uint8) {
		a, errA := fetch(t, []string{"GET", "HEAD"}, string(data), 0)
		b, errB := fetch(t, []string{"GET", "HEAD"}, string(data), int(step%16)+1)
		if !reflect.DeepEqual(a, b) || fmt.Sprint(errA) != fmt.Sprint(errB) {
			t.Fatalf("whole: %+v %v\npieces: %+v %v", a, errA, b, errB)
		}
	})
}
