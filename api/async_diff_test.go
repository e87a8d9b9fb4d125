package api_test

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"kvhttp/api"
)

// TestDifferentialAsyncWrites runs one sequence of requests against the
// API over the embedded store, which answers PUT and DELETE of /kv/{key}
// through TryServeHTTP and the store's asynchronous writes, and against
// the API over the same store without them (the blocking putKey and
// deleteKey): every response must be the same, Date aside.
func TestDifferentialAsyncWrites(t *testing.T) {
	d := newDifferential(t)
	ct := "Content-Type"
	long := strings.Repeat("k", api.DefaultMaxKeyBytes)
	chunked := "PUT /kv/chunked HTTP/1.1\r\nHost: kv.test\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n3\r\n!!!\r\n0\r\n\r\n"
	steps := []dstep{
		{name: "read absent", reqs: []string{req("GET", "/kv/k")}, want: []int{404}},
		{name: "put new", reqs: []string{put("/kv/k", "hello")}, want: []int{201}, path: asyncPath},
		{name: "get new", reqs: []string{req("GET", "/kv/k")}, want: []int{200}},
		{name: "head new", reqs: []string{req("HEAD", "/kv/k")}, want: []int{200}},
		{name: "put replace", reqs: []string{put("/kv/k", "world")}, want: []int{204}, path: asyncPath},
		{name: "get replaced", reqs: []string{req("GET", "/kv/k")}, want: []int{200}},
		{name: "put with content type", reqs: []string{put("/kv/typed", "{}", ct, "application/json")}, want: []int{201}, path: asyncPath},
		{name: "get typed", reqs: []string{req("GET", "/kv/typed")}, want: []int{200}},
		{name: "replace without content type", reqs: []string{put("/kv/typed", "x")}, want: []int{204}, path: asyncPath},
		{name: "get untyped", reqs: []string{req("GET", "/kv/typed")}, want: []int{200}},
		{name: "put empty body", reqs: []string{put("/kv/empty", "")}, want: []int{201}, path: asyncPath},
		{name: "get empty", reqs: []string{req("GET", "/kv/empty")}, want: []int{200}},
		{name: "put without framing", reqs: []string{req("PUT", "/kv/empty", ct, "text/plain")}, want: []int{204}, path: asyncPath},
		{name: "head empty", reqs: []string{req("HEAD", "/kv/empty")}, want: []int{200}},
		{name: "value at the limit", reqs: []string{put("/kv/full", strings.Repeat("v", 16))}, want: []int{201}, path: asyncPath},
		{name: "get full", reqs: []string{req("GET", "/kv/full")}, want: []int{200}},
		{name: "binary value", reqs: []string{put("/kv/bin", "\x00\r\n\xff")}, want: []int{201}, path: asyncPath},
		{name: "get binary", reqs: []string{req("GET", "/kv/bin")}, want: []int{200}},
		{name: "empty content type", reqs: []string{put("/kv/bin", "b", ct, "")}, want: []int{204}, path: asyncPath},
		{name: "get with empty content type", reqs: []string{req("GET", "/kv/bin")}, want: []int{200}},

		// Preconditions that map onto one store condition.
		{name: "create-only on existing", reqs: []string{put("/kv/k", "no", "If-None-Match", "*")}, want: []int{412}, path: asyncPath},
		{name: "get after failed create-only", reqs: []string{req("GET", "/kv/k")}, want: []int{200}},
		{name: "create-only on new", reqs: []string{put("/kv/fresh", "yes", "If-None-Match", "*")}, want: []int{201}, path: asyncPath},
		{name: "get created", reqs: []string{req("GET", "/kv/fresh")}, want: []int{200}},
		{name: "head for the current tag", reqs: []string{req("HEAD", "/kv/k")}, want: []int{200}},
		{name: "cas current", reqs: []string{put("/kv/k", "swapped", "If-Match", "{etag}")}, want: []int{204}, path: asyncPath},
		{name: "get swapped", reqs: []string{req("GET", "/kv/k")}, want: []int{200}},
		{name: "cas wrong version", reqs: []string{put("/kv/k", "lost", "If-Match", `"424242"`)}, want: []int{412}, path: asyncPath},
		{name: "cas with spaces around the tag", reqs: []string{put("/kv/k", "lost", "If-Match", ` "424241"  `)}, want: []int{412}, path: asyncPath},
		{name: "get after failed cas", reqs: []string{req("GET", "/kv/k")}, want: []int{200}},
		{name: "conditional get, tag matches", reqs: []string{req("GET", "/kv/k", "If-None-Match", "{etag}")}, want: []int{304}},
		{name: "conditional head, tag matches", reqs: []string{req("HEAD", "/kv/k", "If-None-Match", "{etag}")}, want: []int{304}},
		{name: "conditional get, other tag", reqs: []string{req("GET", "/kv/k", "If-None-Match", `"424242"`)}, want: []int{200}},
		{name: "get if match, wrong tag", reqs: []string{req("GET", "/kv/k", "If-Match", `"424242"`)}, want: []int{412}},
		{name: "get if match, current tag", reqs: []string{req("GET", "/kv/k", "If-Match", "{etag}")}, want: []int{200}},
		{name: "get with a body", reqs: []string{withBody("GET", "/kv/k", "ignored"), req("GET", "/kv/k")}, want: []int{200, 200}},
		{name: "update-only on missing", reqs: []string{put("/kv/missing", "no", "If-Match", "*")}, want: []int{412}, path: asyncPath},
		{name: "cas on missing", reqs: []string{put("/kv/missing", "no", "If-Match", `"1"`)}, want: []int{412}, path: asyncPath},
		{name: "get missing", reqs: []string{req("GET", "/kv/missing")}, want: []int{404}},
		{name: "update-only on existing", reqs: []string{put("/kv/k", "updated", "If-Match", "*")}, want: []int{204}, path: asyncPath},
		{name: "get updated", reqs: []string{req("GET", "/kv/k")}, want: []int{200}},
		{name: "cas with tag zero", reqs: []string{put("/kv/k", "lost", "If-Match", `"0"`)}, want: []int{412}, path: blockingPath},
		{name: "cas with a huge version", reqs: []string{put("/kv/k", "lost", "If-Match", `"18446744073709551615"`)}, want: []int{412}, path: asyncPath},

		// Deletes.
		{name: "delete existing", reqs: []string{req("DELETE", "/kv/fresh")}, want: []int{204}, path: asyncPath},
		{name: "get deleted", reqs: []string{req("GET", "/kv/fresh")}, want: []int{404}},
		{name: "delete missing", reqs: []string{req("DELETE", "/kv/fresh")}, want: []int{404}, path: asyncPath},
		{name: "delete cas wrong", reqs: []string{req("DELETE", "/kv/k", "If-Match", `"424242"`)}, want: []int{412}, path: asyncPath},
		{name: "get after failed delete", reqs: []string{req("GET", "/kv/k")}, want: []int{200}},
		{name: "delete cas current", reqs: []string{req("DELETE", "/kv/k", "If-Match", "{etag}")}, want: []int{204}, path: asyncPath},
		{name: "head deleted", reqs: []string{req("HEAD", "/kv/k")}, want: []int{404}},
		{name: "delete-if-present on missing", reqs: []string{req("DELETE", "/kv/k", "If-Match", "*")}, want: []int{412}, path: asyncPath},
		{name: "delete cas on missing", reqs: []string{req("DELETE", "/kv/k", "If-Match", `"3"`)}, want: []int{412}, path: asyncPath},
		{name: "delete-if-absent on missing", reqs: []string{req("DELETE", "/kv/k", "If-None-Match", "*")}, want: []int{404}, path: blockingPath},
		{name: "delete-if-absent on existing", reqs: []string{req("DELETE", "/kv/typed", "If-None-Match", "*")}, want: []int{412}, path: blockingPath},
		{name: "delete-if-present on existing", reqs: []string{req("DELETE", "/kv/typed", "If-Match", "*")}, want: []int{204}, path: asyncPath},
		{name: "delete with a body", reqs: []string{withBody("DELETE", "/kv/bin", "ignored")}, want: []int{204}, path: asyncPath},
		{name: "get after delete with a body", reqs: []string{req("GET", "/kv/bin")}, want: []int{404}},

		// Keys.
		{name: "percent-encoded key", reqs: []string{put("/kv/a%2Fb", "slash")}, want: []int{201}, path: asyncPath},
		{name: "get by raw slash", reqs: []string{req("GET", "/kv/a/b")}, want: []int{200}},
		{name: "replace by raw slash", reqs: []string{put("/kv/a/b", "raw")}, want: []int{204}, path: asyncPath},
		{name: "get by encoded slash", reqs: []string{req("GET", "/kv/a%2fb")}, want: []int{200}},
		{name: "encoded key with unicode and plus", reqs: []string{put("/kv/%E2%9C%93%20ok+", "check")}, want: []int{201}, path: asyncPath},
		{name: "get unicode key", reqs: []string{req("GET", "/kv/%e2%9c%93%20ok%2B")}, want: []int{200}},
		{name: "dot-dot key", reqs: []string{put("/kv/%2E%2E", "dots")}, want: []int{201}, path: asyncPath},
		{name: "delete encoded key", reqs: []string{req("DELETE", "/kv/a%2Fb")}, want: []int{204}, path: asyncPath},
		{name: "get deleted encoded key", reqs: []string{req("GET", "/kv/a/b")}, want: []int{404}},
		{name: "key with a query", reqs: []string{put("/kv/q?x=1&y", "query")}, want: []int{201}, path: asyncPath},
		{name: "get key with a query", reqs: []string{req("GET", "/kv/q")}, want: []int{200}},
		{name: "absolute-form target", reqs: []string{put("http://kv.test/kv/abs", "abs")}, want: []int{201}, path: asyncPath},
		{name: "get absolute", reqs: []string{req("GET", "/kv/abs")}, want: []int{200}},
		{name: "malformed key", reqs: []string{put("/kv/bad%zz", "x")}, want: []int{400}, path: blockingPath},
		{name: "delete malformed key", reqs: []string{req("DELETE", "/kv/bad%2")}, want: []int{400}, path: blockingPath},
		{name: "key of NUL and 0xFF", reqs: []string{put("/kv/%00%FF", "nul")}, want: []int{201}, path: asyncPath},
		{name: "get NUL key", reqs: []string{req("GET", "/kv/%00%ff")}, want: []int{200}},
		{name: "longest key", reqs: []string{put("/kv/"+long, "long")}, want: []int{201}, path: asyncPath},
		{name: "get longest key", reqs: []string{req("GET", "/kv/"+long)}, want: []int{200}},
		{name: "key too long", reqs: []string{put("/kv/"+long+"k", "x")}, want: []int{414}, path: blockingPath},
		{name: "delete key too long", reqs: []string{req("DELETE", "/kv/"+long+"k")}, want: []int{414}, path: blockingPath},
		{name: "encoded key too long", reqs: []string{put("/kv/"+strings.Repeat("%41", api.DefaultMaxKeyBytes+1), "x")}, want: []int{414}, path: blockingPath},
		{name: "empty key", reqs: []string{put("/kv/", "x")}, want: []int{405}, path: blockingPath},
		{name: "content type too long", reqs: []string{put("/kv/ct", "x", ct, strings.Repeat("t", 256))}, want: []int{400}, path: blockingPath},
		{name: "get after refused content type", reqs: []string{req("GET", "/kv/ct")}, want: []int{404}},

		// Preconditions that ServeHTTP evaluates.
		{name: "put again for tags", reqs: []string{put("/kv/t", "v1")}, want: []int{201}, path: asyncPath},
		{name: "cas list holding current", reqs: []string{put("/kv/t", "v2", "If-Match", `"424242", {etag}`)}, want: []int{204}, path: blockingPath},
		{name: "get after list cas", reqs: []string{req("GET", "/kv/t")}, want: []int{200}},
		{name: "cas weak tag", reqs: []string{put("/kv/t", "v3", "If-Match", "W/{etag}")}, want: []int{412}, path: blockingPath},
		{name: "both preconditions holding", reqs: []string{put("/kv/t", "v4", "If-Match", "{etag}", "If-None-Match", `"424242"`)}, want: []int{204}, path: blockingPath},
		{name: "two If-Match fields", reqs: []string{put("/kv/t", "v5", "If-Match", `"424242"`, "If-Match", "{etag}")}, want: []int{204}, path: blockingPath},
		{name: "If-None-Match with the current tag", reqs: []string{put("/kv/t", "v6", "If-None-Match", "{etag}")}, want: []int{412}, path: blockingPath},
		{name: "If-None-Match with a stale tag", reqs: []string{put("/kv/t", "v7", "If-None-Match", `"1"`)}, want: []int{204}, path: blockingPath},
		{name: "tag with a leading zero", reqs: []string{put("/kv/t", "v8", "If-Match", `"0{version}"`)}, want: []int{412}, path: blockingPath},
		{name: "empty If-Match", reqs: []string{put("/kv/t", "v9", "If-Match", "")}, want: []int{412}, path: blockingPath},
		{name: "delete cas list", reqs: []string{req("DELETE", "/kv/t", "If-Match", `"1", {etag}`)}, want: []int{204}, path: blockingPath},
		{name: "get after delete list", reqs: []string{req("GET", "/kv/t")}, want: []int{404}},

		// Bodies the event loop does not take.
		{name: "chunked put", reqs: []string{chunked}, want: []int{201}, path: blockingPath},
		{name: "get chunked", reqs: []string{req("GET", "/kv/chunked")}, want: []int{200}},
		{name: "empty chunked put", reqs: []string{"PUT /kv/chunked HTTP/1.1\r\nHost: kv.test\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"}, want: []int{204}, path: blockingPath},
		{name: "get empty chunked", reqs: []string{req("GET", "/kv/chunked")}, want: []int{200}},
		{name: "expect 100-continue", reqs: []string{put("/kv/expect", "body", "Expect", "100-continue")}, expect: true, want: []int{100, 201}, path: blockingPath},
		{name: "get expected", reqs: []string{req("GET", "/kv/expect")}, want: []int{200}},
		{name: "expect 100-continue, empty", reqs: []string{put("/kv/expect", "", "Expect", "100-continue")}, expect: true, want: []int{204}, path: blockingPath},
		{name: "get expected empty", reqs: []string{req("GET", "/kv/expect")}, want: []int{200}},
		{name: "body in two writes", reqs: []string{put("/kv/split", "0123456789")}, split: len(put("/kv/split", "0123456789")) - 5, want: []int{201}},
		{name: "get split", reqs: []string{req("GET", "/kv/split")}, want: []int{200}},

		// Pipelined, in one write.
		{name: "pipelined writes and reads", reqs: []string{
			put("/kv/p1", "one"),
			put("/kv/p2", "two", ct, "text/plain"),
			req("GET", "/kv/p1"),
			put("/kv/p1", "uno"),
			req("HEAD", "/kv/p1"),
			req("DELETE", "/kv/p2"),
			req("GET", "/kv/p2"),
			put("/kv/p3", "three", "If-None-Match", "*"),
			put("/kv/p3", "tres", "If-None-Match", "*"),
			req("GET", "/kv/p3"),
			req("DELETE", "/kv/p2"),
			req("GET", "/kv/p1"),
		}, want: []int{201, 201, 200, 204, 200, 204, 404, 201, 412, 200, 404, 200}},
		{name: "pipelined with the blocking path between", reqs: []string{
			put("/kv/p4", "four"),
			"PUT /kv/p4 HTTP/1.1\r\nHost: kv.test\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nvier\r\n0\r\n\r\n",
			put("/kv/p4", "quatre", "If-Match", `"424242", "424243"`),
			req("GET", "/kv/p4"),
			put("/kv/p4", "cuatro"),
			req("DELETE", "/kv/p4", "If-None-Match", "*"),
			req("DELETE", "/kv/p4"),
			req("GET", "/kv/p4"),
			req("OPTIONS", "/kv/p4"),
			req("GET", "/kv/p1"),
		}, want: []int{201, 204, 412, 200, 204, 412, 204, 404, 204, 200}},
		{name: "pipelined puts of new keys", reqs: []string{
			put("/kv/q1", "a"), put("/kv/q2", "b"), put("/kv/q3", "c"), put("/kv/q4", "d"),
			put("/kv/q5", "e"), put("/kv/q6", "f"), put("/kv/q7", "g"), put("/kv/q8", "h"),
			req("GET", "/kv/q1"), req("GET", "/kv/q8"),
		}, want: []int{201, 201, 201, 201, 201, 201, 201, 201, 200, 200}, path: asyncPath},

		// Responses that close the connection; the next step dials anew.
		{name: "pipelined, the last closing", reqs: []string{
			put("/kv/r1", "a"), put("/kv/r1", "b", "If-Match", "*"), req("DELETE", "/kv/r1", "Connection", "close"),
		}, closes: true, want: []int{201, 204, 204}, path: asyncPath},
		{name: "pipelined, then garbage", reqs: []string{put("/kv/r2", "a"), "GARBAGE\r\n\r\n"}, closes: true, want: []int{201, 400}},
		{name: "get after garbage", reqs: []string{req("GET", "/kv/r2")}, want: []int{200}},
		{name: "lower-case method", reqs: []string{"put" + strings.TrimPrefix(put("/kv/lower", "x"), "PUT")}, closes: true, want: []int{501}, path: blockingPath},
		{name: "get after lower-case method", reqs: []string{req("GET", "/kv/lower")}, want: []int{404}},
		{name: "value too large", reqs: []string{head("HTTP/1.1", "PUT", "/kv/big") + "Content-Length: 17\r\n\r\n"}, closes: true, want: []int{413}, path: blockingPath},
		{name: "get after value too large", reqs: []string{req("GET", "/kv/big")}, want: []int{404}},
		{name: "value too large, chunked", reqs: []string{"PUT /kv/big HTTP/1.1\r\nHost: kv.test\r\nTransfer-Encoding: chunked\r\n\r\n11\r\n" + strings.Repeat("v", 17) + "\r\n0\r\n\r\n"}, closes: true, want: []int{413}, path: blockingPath},
		{name: "value too large, expecting 100-continue", reqs: []string{head("HTTP/1.1", "PUT", "/kv/big", "Expect", "100-continue") + "Content-Length: 17\r\n\r\n"}, expect: true, closes: true, want: []int{413}, path: blockingPath},
		{name: "get after values too large", reqs: []string{req("GET", "/kv/big")}, want: []int{404}},
		{name: "put closing the connection", reqs: []string{put("/kv/close", "bye", "Connection", "close")}, closes: true, want: []int{201}, path: asyncPath},
		{name: "delete closing the connection", reqs: []string{req("DELETE", "/kv/close", "Connection", "close")}, closes: true, want: []int{204}, path: asyncPath},
		{name: "HTTP/1.0 put", reqs: []string{head("HTTP/1.0", "PUT", "/kv/old") + "Content-Length: 3\r\n\r\nold"}, closes: true, want: []int{201}, path: asyncPath},
		{name: "HTTP/1.0 keep-alive put", reqs: []string{head("HTTP/1.0", "PUT", "/kv/old", "Connection", "keep-alive") + "Content-Length: 3\r\n\r\nnew"}, want: []int{204}, path: asyncPath},
		{name: "get old", reqs: []string{req("GET", "/kv/old")}, want: []int{200}},
		{name: "list everything", reqs: []string{req("GET", "/")}, want: []int{200}},
	}
	for _, s := range steps {
		d.run(s)
	}
	d.finish()
}

// TestDifferentialAsyncPipelinedBulk is TestDifferentialAsyncWrites for
// one write of more pipelined requests than the event loop serves before
// reading again (bulkAfter in package server): the goroutine that goes on
// takes a bulk turn, and some of the requests it serves are answered
// asynchronously.
func TestDifferentialAsyncPipelinedBulk(t *testing.T) {
	d := newDifferential(t)
	for _, s := range []dstep{
		{name: "pipelined past the loop's run of requests", reqs: bulk(80), want: bulkWant(80, 201)},
		{name: "get the first", reqs: []string{req("GET", "/kv/bulk000")}, want: []int{200}},
		{name: "pipelined replacements", reqs: bulk(80), want: bulkWant(80, 204)},
		{name: "get the last", reqs: []string{req("GET", "/kv/bulk039")}, want: []int{200}},
	} {
		d.run(s)
	}
	d.finish()
}

// bulk is n requests for one write, alternately PUTs of new keys and GETs
// of them: more than the event loop serves before reading again, and
// more bytes than one read takes.
func bulk(n int) []string {
	reqs := make([]string, n)
	for i := range reqs {
		target := fmt.Sprintf("/kv/bulk%03d", i/2)
		if i%2 == 0 {
			reqs[i] = put(target, strconv.Itoa(i))
		} else {
			reqs[i] = req("GET", target)
		}
	}
	return reqs
}

// bulkWant is the statuses of bulk(n), its PUTs answered with put.
func bulkWant(n, put int) []int {
	want := make([]int, n)
	for i := range want {
		want[i] = 200
		if i%2 == 0 {
			want[i] = put
		}
	}
	return want
}
