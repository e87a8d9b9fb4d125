// Package client is kvhttp's HTTP/1.1 client, built on the same codec as
// the server (package wire) over TCP, without net/http.
//
// A Client keeps a small pool of persistent connections to one server.
// Each call takes a context whose deadline and cancellation apply to the
// exchange. A request whose method is idempotent is retried once on a new
// connection when a reused one turns out to be closed before any byte of
// the response arrived; other requests are never retried.
package client
