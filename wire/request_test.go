package wire

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// validRequests are accepted; want describes the single request each holds.
var validRequests = []struct {
	name string
	in   string
	want seen
}{
	{"get", "GET / HTTP/1.1\r\nHost: a\r\n\r\n",
		seen{Method: "GET", Target: "/", Path: "/", Host: "a", Minor: 1, Fields: `Host="a";`, KeepAlive: true}},
	{"query and fragment", "GET /p/q?x=1&y#frag HTTP/1.1\r\nHost: a:80\r\n\r\n",
		seen{Method: "GET", Target: "/p/q?x=1&y#frag", Path: "/p/q", Query: "x=1&y", Host: "a:80", Minor: 1, Fields: `Host="a:80";`, KeepAlive: true}},
	{"post length", "POST /create HTTP/1.1\r\nHost: a\r\nContent-Length: 16\r\n\r\nname:kangjuseong",
		seen{Method: "POST", Target: "/create", Path: "/create", Host: "a", Minor: 1, Fields: `Host="a";Content-Length="16";`, Body: "name:kangjuseong", KeepAlive: true}},
	{"length with leading zeros", "PUT /u HTTP/1.1\r\nHost: a\r\nContent-Length: 003\r\n\r\nabc",
		seen{Method: "PUT", Target: "/u", Path: "/u", Host: "a", Minor: 1, Fields: `Host="a";Content-Length="003";`, Body: "abc", KeepAlive: true}},
	{"chunked with extensions and trailer",
		"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n" +
			"5;a=b;c=\"q \\\"d\\\"\"\r\nhello\r\nA\r\n world!!!!\r\n000\r\nX-Sum: 1\r\n\r\n",
		seen{Method: "POST", Target: "/", Path: "/", Host: "a", Minor: 1, Fields: `Host="a";Transfer-Encoding="chunked";`,
			Body: "hello world!!!!", Trailer: `X-Sum="1";`, KeepAlive: true}},
	{"chunked case-insensitive, split lines", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n",
		seen{Method: "POST", Target: "/", Path: "/", Host: "a", Minor: 1, Fields: `Host="a";Transfer-Encoding="Chunked";`, Body: "x", KeepAlive: true}},
	{"http/1.0 without host", "GET / HTTP/1.0\r\n\r\n",
		seen{Method: "GET", Target: "/", Path: "/", Minor: 0}},
	{"http/1.0 keep-alive", "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n",
		seen{Method: "GET", Target: "/", Path: "/", Minor: 0, Fields: `Connection="Keep-Alive";`, KeepAlive: true}},
	{"connection close among tokens", "GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, close\r\n\r\n",
		seen{Method: "GET", Target: "/", Path: "/", Host: "a", Minor: 1, Fields: `Host="a";Connection="keep-alive, close";`}},
	{"leading empty lines", "\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
		seen{Method: "GET", Target: "/", Path: "/", Host: "a", Minor: 1, Fields: `Host="a";`, KeepAlive: true}},
	{"absolute form", "GET http://other:8080/x?y HTTP/1.1\r\nHost: a\r\n\r\n",
		seen{Method: "GET", Target: "http://other:8080/x?y", Path: "/x", Query: "y", Authority: "other:8080", Host: "a", Minor: 1, Fields: `Host="a";`, KeepAlive: true}},
	{"absolute form without path", "GET HTTPS://h HTTP/1.1\r\nHost: h\r\n\r\n",
		seen{Method: "GET", Target: "HTTPS://h", Path: "/", Authority: "h", Host: "h", Minor: 1, Fields: `Host="h";`, KeepAlive: true}},
	{"options asterisk", "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
		seen{Method: "OPTIONS", Target: "*", Path: "*", Host: "a", Minor: 1, Fields: `Host="a";`, KeepAlive: true}},
	{"obs-text and tabs in value", "GET / HTTP/1.1\r\nHost: a\r\nX:\t D\xc3\xbcsseldorf \xff\t\r\n\r\n",
		seen{Method: "GET", Target: "/", Path: "/", Host: "a", Minor: 1, Fields: `Host="a";X="Düsseldorf \xff";`, KeepAlive: true}},
	{"empty value", "GET / HTTP/1.1\r\nHost: a\r\nX-Empty:\r\n\r\n",
		seen{Method: "GET", Target: "/", Path: "/", Host: "a", Minor: 1, Fields: `Host="a";X-Empty="";`, KeepAlive: true}},
	{"http/1.2 is 1.1", "GET / HTTP/1.2\r\nHost: a\r\n\r\n",
		seen{Method: "GET", Target: "/", Path: "/", Host: "a", Minor: 1, Fields: `Host="a";`, KeepAlive: true}},
	{"host with sub-delims", "GET / HTTP/1.1\r\nHost: 0.0.0.0=5000\r\n\r\n",
		seen{Method: "GET", Target: "/", Path: "/", Host: "0.0.0.0=5000", Minor: 1, Fields: `Host="0.0.0.0=5000";`, KeepAlive: true}},
	{"ipv6 host", "GET / HTTP/1.1\r\nHost: [::1]:10000\r\n\r\n",
		seen{Method: "GET", Target: "/", Path: "/", Host: "[::1]:10000", Minor: 1, Fields: `Host="[::1]:10000";`, KeepAlive: true}},
	{"expect continue", "PUT /x HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\nz",
		seen{Method: "PUT", Target: "/x", Path: "/x", Host: "a", Minor: 1, Fields: `Host="a";Expect="100-Continue";Content-Length="1";`, Body: "z", KeepAlive: true, Expect: ExpectContinue}},
	{"expect ignored in 1.0", "GET / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n",
		seen{Method: "GET", Target: "/", Path: "/", Minor: 0, Fields: `Expect="100-continue";`}},
	{"unknown expectation", "GET / HTTP/1.1\r\nHost: a\r\nExpect: 200-ok\r\n\r\n",
		seen{Method: "GET", Target: "/", Path: "/", Host: "a", Minor: 1, Fields: `Host="a";Expect="200-ok";`, KeepAlive: true, Expect: ExpectUnknown}},
	{"delete with odd target chars", "DELETE /a%2Fb|{\"}\\ HTTP/1.1\r\nHost: a\r\n\r\n",
		seen{Method: "DELETE", Target: "/a%2Fb|{\"}\\", Path: "/a%2Fb|{\"}\\", Host: "a", Minor: 1, Fields: `Host="a";`, KeepAlive: true}},
}

func TestValidRequests(t *testing.T) {
	for _, tc := range validRequests {
		for _, m := range modes {
			t.Run(tc.name+"/"+m.name, func(t *testing.T) {
				got, err := serve(t, Limits{}, tc.in, m.step)
				if err != nil {
					t.Fatalf("got error %v; want none", err)
				}
				if len(got) != 1 || !reflect.DeepEqual(got[0], tc.want) {
					t.Fatalf("got %+v; want [%+v]", got, tc.want)
				}
			})
		}
	}
}

// TestPipelined feeds every valid case three times back to back: each must
// come out three times, whatever the read boundaries, as long as the
// connection persists.
func TestPipelined(t *testing.T) {
	for _, tc := range validRequests {
		if !tc.want.KeepAlive {
			continue
		}
		in := strings.Repeat(tc.in, 3)
		for _, m := range modes {
			t.Run(tc.name+"/"+m.name, func(t *testing.T) {
				got, err := serve(t, Limits{}, in, m.step)
				if err != nil {
					t.Fatalf("got error %v; want none", err)
				}
				want := []seen{tc.want, tc.want, tc.want}
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("got %+v; want %+v", got, want)
				}
			})
		}
	}
}

// TestCloseStopsParsing: after a request that closes the connection, the
// bytes that follow are never parsed.
func TestCloseStopsParsing(t *testing.T) {
	for _, in := range []string{
		"GET / HTTP/1.0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n",
	} {
		got, err := serve(t, Limits{}, in, 0)
		if err != nil || len(got) != 1 {
			t.Errorf("%q: got %d requests, error %v; want 1, none", in, len(got), err)
		}
	}
}

// malformedRequests are refused with the given status and error. Some
// follow a valid request, which must be served first.
var malformedRequests = []struct {
	name   string
	in     string
	status int
	err    error
}{
	{"bare LF in request line", "GET / HTTP/1.1\nHost: a\r\n\r\n", 400, ErrBareLF},
	{"bare LF in field line", "GET / HTTP/1.1\r\nHost: a\nX: y\r\n\r\n", 400, ErrBareLF},
	{"bare LF ending head", "GET / HTTP/1.1\r\nHost: a\r\n\n", 400, ErrBareLF},
	{"bare CR in value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n", 400, ErrBareCR},
	{"bare CR in request line", "GET / HTTP/1.1\rHost: a\r\n\r\n", 400, ErrBareCR},
	{"CR as line end", "GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n", 400, ErrBareCR},
	{"obs-fold", "GET / HTTP/1.1\r\nHost: a\r\nX: y\r\n z\r\n\r\n", 400, ErrObsFold},
	{"whitespace line after request line", "GET / HTTP/1.1\r\n \r\nHost: a\r\n\r\n", 400, ErrObsFold},
	{"space before colon", "GET / HTTP/1.1\r\nHost: a\r\nContent-Length : 5\r\n\r\nhello", 400, ErrSpaceBeforeColon},
	{"tab in name", "GET / HTTP/1.1\r\nHost: a\r\nContent\tLength: 5\r\n\r\n", 400, ErrSpaceBeforeColon},
	{"no colon", "GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n", 400, ErrFieldName},
	{"empty name", "GET / HTTP/1.1\r\nHost: a\r\n: v\r\n\r\n", 400, ErrFieldName},
	{"bad name char", "GET / HTTP/1.1\r\nHost: a\r\nBad[Name: v\r\n\r\n", 400, ErrFieldName},
	{"non-ascii name", "GET / HTTP/1.1\r\nHost: a\r\nN\xc3\xa4me: v\r\n\r\n", 400, ErrFieldName},
	{"NUL in value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\x00b\r\n\r\n", 400, ErrFieldValue},
	{"DEL in value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\x7fb\r\n\r\n", 400, ErrFieldValue},
	{"missing host", "GET / HTTP/1.1\r\n\r\n", 400, ErrHostMissing},
	{"repeated host", "GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", 400, ErrHostRepeated},
	{"empty host", "GET / HTTP/1.1\r\nHost: \r\n\r\n", 400, ErrHost},
	{"host with path", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400, ErrHost},
	{"host with userinfo", "GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", 400, ErrHost},
	{"host list", "GET / HTTP/1.1\r\nHost: a, b\r\n\r\n", 400, ErrHost},
	{"host comma", "GET / HTTP/1.1\r\nHost: a,b\r\n\r\n", 400, ErrHost},
	{"host bad port", "GET / HTTP/1.1\r\nHost: a:8x\r\n\r\n", 400, ErrHost},
	{"origin's host with path", "POST / HTTP/1.1\r\nHost: 127.0.0.1/create\r\nContent-Length: 0\r\n\r\n", 400, ErrHost},
	{"double space", "GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400, ErrRequestLine},
	{"missing target", "GET HTTP/1.1\r\nHost: a\r\n\r\n", 400, ErrRequestLine},
	{"HTTP/0.9 line", "GET /\r\n\r\n", 400, ErrRequestLine},
	{"tab separator", "GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n", 400, ErrRequestLine},
	{"space in target", "GET /pa th HTTP/1.1\r\nHost: a\r\n\r\n", 400, ErrVersion},
	{"lowercase version", "GET / http/1.1\r\nHost: a\r\n\r\n", 400, ErrVersion},
	{"version without minor", "GET / HTTP/1\r\nHost: a\r\n\r\n", 400, ErrVersion},
	{"version leading zeros", "GET / HTTP/01.01\r\nHost: a\r\n\r\n", 400, ErrVersion},
	{"trailing space after version", "GET / HTTP/1.1 \r\nHost: a\r\n\r\n", 400, ErrVersion},
	{"other protocol", "GET / ICE/1.0\r\nHost: a\r\n\r\n", 400, ErrVersion},
	{"http/2", "GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505, ErrVersionUnsupported},
	{"h2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505, ErrVersionUnsupported},
	{"http/0.9 version", "GET / HTTP/0.9\r\nHost: a\r\n\r\n", 505, ErrVersionUnsupported},
	{"unknown method", "FOOBAR / HTTP/1.1\r\nHost: a\r\n\r\n", 501, ErrMethodUnknown},
	{"lowercase method", "get / HTTP/1.1\r\nHost: a\r\n\r\n", 501, ErrMethodUnknown},
	{"invalid method", "GE[T / HTTP/1.1\r\nHost: a\r\n\r\n", 400, ErrMethod},
	{"connect", "CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n", 501, ErrTunnel},
	{"NUL in target", "GET /\x00 HTTP/1.1\r\nHost: a\r\n\r\n", 400, ErrTarget},
	{"utf-8 in target", "GET /\xc3\xa4 HTTP/1.1\r\nHost: a\r\n\r\n", 400, ErrTarget},
	{"asterisk with GET", "GET * HTTP/1.1\r\nHost: a\r\n\r\n", 400, ErrTarget},
	{"relative target", "GET x HTTP/1.1\r\nHost: a\r\n\r\n", 400, ErrTarget},
	{"other scheme", "GET ftp://a/ HTTP/1.1\r\nHost: a\r\n\r\n", 400, ErrTarget},
	{"absolute form, empty host", "GET http://:80/x HTTP/1.1\r\nHost: a\r\n\r\n", 400, ErrTarget},
	{"absolute form, userinfo only", "GET http://user@/x HTTP/1.1\r\nHost: a\r\n\r\n", 400, ErrTarget},
	{"absolute form, https, empty host", "GET https://:443 HTTP/1.1\r\nHost: a\r\n\r\n", 400, ErrTarget},
	{"length and chunked", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, ErrLengthAndChunked},
	{"chunked and length", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n", 400, ErrLengthAndChunked},
	{"two lengths", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello", 400, ErrContentLengthTwice},
	{"length list", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 10\r\n\r\nhello", 400, ErrContentLengthTwice},
	{"same length list", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\nhello", 400, ErrContentLengthTwice},
	{"length plus sign", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\nhello", 400, ErrContentLength},
	{"length negative", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", 400, ErrContentLength},
	{"length hex", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x5\r\n\r\nhello", 400, ErrContentLength},
	{"length inner space", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1 0\r\n\r\n", 400, ErrContentLength},
	{"length empty", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \r\n\r\n", 400, ErrContentLength},
	{"length underscore", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1_0\r\n\r\n", 400, ErrContentLength},
	{"length beyond int64", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n", 400, ErrContentLength},
	{"unknown coding", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 501, ErrCodingUnsupported},
	{"identity coding", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\n", 501, ErrCodingUnsupported},
	{"gzip then chunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501, ErrCodingUnsupported},
	{"chunked not last", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n", 400, ErrTransferEncoding},
	{"chunked twice", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n", 400, ErrTransferEncoding},
	{"chunked twice in lines", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, ErrTransferEncoding},
	{"chunked with parameter", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked;x=y\r\n\r\n0\r\n\r\n", 400, ErrTransferEncoding},
	{"empty coding", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \r\n\r\n", 400, ErrTransferEncoding},
	{"xchunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n", 501, ErrCodingUnsupported},
	{"coding in 1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, ErrTransferHTTP10},
	{"chunk size hex prefix", chunked("0x5\r\nhello\r\n0\r\n\r\n"), 400, ErrChunk},
	{"chunk size plus", chunked("+5\r\nhello\r\n0\r\n\r\n"), 400, ErrChunk},
	{"chunk size negative", chunked("-1\r\nhello\r\n0\r\n\r\n"), 400, ErrChunk},
	{"chunk size leading space", chunked(" 5\r\nhello\r\n0\r\n\r\n"), 400, ErrChunk},
	{"chunk size trailing space", chunked("5 \r\nhello\r\n0\r\n\r\n"), 400, ErrChunk},
	{"chunk size underscore", chunked("1_0\r\nhello world!!!!!\r\n0\r\n\r\n"), 400, ErrChunk},
	{"chunk size overflow", chunked("FFFFFFFFFFFFFFFF0\r\nhello\r\n0\r\n\r\n"), 400, ErrChunk},
	{"chunk ext bare semicolon", chunked("5;\r\nhello\r\n0\r\n\r\n"), 400, ErrChunk},
	{"chunk ext bad name", chunked("5;bad[=x\r\nhello\r\n0\r\n\r\n"), 400, ErrChunk},
	{"chunk ext unterminated quote", chunked("5;a=\"x\r\nhello\r\n0\r\n\r\n"), 400, ErrChunk},
	{"chunk ext control char", chunked("5;a=\x01\r\nhello\r\n0\r\n\r\n"), 400, ErrChunk},
	{"chunk ext bare CR", chunked("5;a\rb\r\nhello\r\n0\r\n\r\n"), 400, ErrChunk},
	{"chunk line bare LF", chunked("5\nhello\r\n0\r\n\r\n"), 400, ErrBareLF},
	{"chunk data spill", chunked("5\r\nhello!!\r\n0\r\n\r\n"), 400, ErrChunk},
	{"chunk data bare LF end", chunked("5\r\nhello\n0\r\n\r\n"), 400, ErrChunk},
	{"chunk missing CRLF", chunked("5\r\nhello0\r\n\r\n"), 400, ErrChunk},
	{"chunk no size", chunked("\r\nhello\r\n0\r\n\r\n"), 400, ErrChunk},
	{"trailer bare LF", chunked("0\r\nX: y\n\r\n"), 400, ErrBareLF},
	{"trailer obs-fold", chunked("0\r\nX: y\r\n z\r\n\r\n"), 400, ErrObsFold},
	{"chunked without last chunk", chunked("5\r\nhello\r\n"), 400, ErrTruncated},
	{"length undersent", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nhello", 400, ErrTruncated},
	{"head cut short", "GET / HTTP/1.1\r\nHost: a\r\nX-Test: value", 400, ErrTruncated},
	{"error after a good request", "GET / HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\n\r\n", 400, ErrHostMissing},
	{"smuggled after bad length", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1_0\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 400, ErrContentLength},
	{"request line too long", "GET /" + strings.Repeat("a", DefaultMaxRequestLine) + " HTTP/1.1\r\nHost: a\r\n\r\n", 414, ErrLineTooLong},
	{"endless request line", "GET /" + strings.Repeat("a", 3*DefaultMaxRequestLine), 414, ErrLineTooLong},
	{"header too large", "GET / HTTP/1.1\r\nHost: a\r\nX: " + strings.Repeat("v", DefaultMaxHeaderBytes) + "\r\n\r\n", 431, ErrHeaderTooLarge},
	{"endless header", "GET / HTTP/1.1\r\nHost: a\r\nX: " + strings.Repeat("v", 2*DefaultMaxHeaderBytes), 431, ErrHeaderTooLarge},
	{"too many fields", "GET / HTTP/1.1\r\nHost: a\r\n" + strings.Repeat("X: y\r\n", DefaultMaxHeaderFields) + "\r\n", 431, ErrTooManyFields},
	{"body too large", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1048577\r\n\r\n", 413, ErrBodyTooLarge},
	{"chunked body too large", chunked("100000\r\n" + strings.Repeat("x", 1<<20) + "\r\n1\r\nx\r\n0\r\n\r\n"), 413, ErrBodyTooLarge},
	{"chunk line too long", chunked("5;" + strings.Repeat("a", DefaultMaxChunkLine) + "\r\nhello\r\n0\r\n\r\n"), 400, ErrChunk},
	{"trailer too large", chunked("0\r\nX: " + strings.Repeat("v", DefaultMaxHeaderBytes) + "\r\n\r\n"), 431, ErrHeaderTooLarge},
	{"leading bare LF", "\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 400, ErrBareLF},
	{"too many empty lines", "\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 400, ErrRequestLine},
}

func chunked(body string) string {
	return "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n" + body
}

func TestMalformedRequests(t *testing.T) {
	for _, tc := range malformedRequests {
		for _, m := range modes {
			t.Run(tc.name+"/"+m.name, func(t *testing.T) {
				_, err := serve(t, Limits{}, tc.in, m.step)
				var pe *ProtocolError
				if !errors.As(err, &pe) {
					t.Fatalf("got error %v; want a *ProtocolError", err)
				}
				if pe.Status != tc.status || !errors.Is(err, tc.err) {
					t.Fatalf("got %d %v; want %d %v", pe.Status, pe.Err, tc.status, tc.err)
				}
			})
		}
	}
}
