package wire_test

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"kvhttp/wire"
)

// A ServerConn turns received bytes into requests and encodes responses;
// the caller moves the bytes. Here two pipelined requests arrive at once.
func ExampleServerConn() {
	var c wire.ServerConn
	c.Feed([]byte("POST /create HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 16\r\n\r\nname:kangjuseong" +
		"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"))
	var out []byte
	for {
		req, err := c.NextRequest()
		if errors.Is(err, wire.ErrNeedMore) || errors.Is(err, io.EOF) {
			break // a server would read more from its socket here
		}
		if err != nil {
			fmt.Println("refused:", err)
			return
		}
		body := make([]byte, 64)
		n, _ := c.ReadBody(body)
		fmt.Printf("%s %s body=%q\n", req.Method, req.Path, body[:n])

		var h wire.Header
		h.Add("Content-Type", "text/plain")
		out, _ = c.AppendResponse(out, 200, &h, []byte("ok\n"))
	}
	fmt.Print(strings.ReplaceAll(string(out), "\r\n", "\n")) // CRLF shown as LF
	// Output:
	// POST /create body="name:kangjuseong"
	// GET / body=""
	// HTTP/1.1 200 OK
	// Content-Type: text/plain
	// Content-Length: 3
	//
	// ok
	// HTTP/1.1 200 OK
	// Content-Type: text/plain
	// Content-Length: 3
	//
	// ok
}

// A refused request carries the status to answer with.
func ExampleProtocolError() {
	var c wire.ServerConn
	c.Feed([]byte("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"))
	_, err := c.NextRequest()
	var pe *wire.ProtocolError
	if errors.As(err, &pe) {
		fmt.Println(pe.Status, pe.Err)
	}
	// Output: 400 wire: both Transfer-Encoding and Content-Length
}
