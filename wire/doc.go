// Package wire is kvhttp's HTTP/1.1 codec: it turns bytes into messages and
// messages into bytes, and never touches a socket (it imports no network
// package). The server and the client drive it with their own I/O.
//
// The design follows h11: a ServerConn or ClientConn is fed the bytes that
// arrived, yields parsed messages and body data, and appends encoded messages
// to a caller's buffer. Each connection tracks its protocol state in one
// place (see ConnState) so that the code doing I/O cannot get framing,
// keep-alive or the end of a message wrong.
//
// Parsing is strict RFC 9112: bare LF, bare CR, obs-fold, whitespace before a
// colon, ambiguous framing (Content-Length with Transfer-Encoding, repeated or
// malformed Content-Length) and malformed chunk lines are all rejected. Every
// rejection is a *ProtocolError carrying the status code to answer with; after
// one, the connection parses nothing more. Limits (Limits) bound the request
// line, the header section, the number of fields and the body, so a peer
// cannot make the codec hold unbounded memory.
//
// Parsed messages refer to memory owned by the connection: a Request or
// Response and its Header are valid until the next call that parses a new
// message on that connection. Nothing on the hot path allocates once a
// connection's buffers have grown to fit its traffic.
package wire
