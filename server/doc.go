// Package server runs kvhttp's HTTP/1.1 codec (package wire) over TCP: one
// accept loop, one goroutine per connection, persistent connections and
// pipelining, 100-continue, timeouts for every phase of a connection, a cap
// on concurrent connections, and graceful shutdown.
//
// The server knows nothing of keys and values: a Handler does. Responses are
// buffered whole, given Date and Content-Length, and written in batches: all
// responses to the requests that arrived together go out in one write.
//
// A Handler that is also a NonBlockingHandler may answer requests without
// blocking and finish their responses later (ResponseWriter.Later and
// Done): a durable write whose answer waits for a disk sync shared with
// other writes. On Linux, connections whose responses were deferred are
// then served by an event loop instead of a goroutine each (loop.go), as
// long as their requests can be answered that way; the rest goes back to
// a goroutine. A NonBlockingHandler that is also a RoundHandler learns
// where the loop's rounds begin and end, and may have the loop watch a
// descriptor of its own (loop_linux.go): the API has the store commit
// each round's writes together, on the loop, without waiting.
package server
