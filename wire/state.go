package wire

import "fmt"

// ConnState is where a connection is in the exchange of messages. Both
// ServerConn and ClientConn keep theirs here and change it only through
// advance, which checks each move against the tables below, so the rules of
// persistence and framing live in one place (after h11's _state.py).
type ConnState uint8

// Connection states. A server uses all of them; a client uses Idle, Head,
// Body and Closed for the responses it reads.
const (
	// StateIdle: between messages; nothing of the next one has arrived.
	// A server applies its idle timeout here, and may close the
	// connection during a graceful shutdown.
	StateIdle ConnState = iota
	// StateHead: part of a message head has arrived (a server applies its
	// read-header timeout).
	StateHead
	// StateBody: the head is parsed and its body is arriving. A server may
	// answer before the body is complete.
	StateBody
	// StateRespond (server only): the request has been read entirely and
	// awaits its response.
	StateRespond
	// StateDrain (server only): the response went out before the request
	// body was read; the rest of the body is read and discarded so that the
	// next request starts at the right byte.
	StateDrain
	// StateClosed: no further message will be parsed, because a side asked
	// to close, HTTP/1.0 without keep-alive, the peer closed, or a protocol
	// error (after which a server may send one error response).
	StateClosed
)

var stateNames = [...]string{"idle", "head", "body", "respond", "drain", "closed"}

func (s ConnState) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return fmt.Sprintf("ConnState(%d)", s)
}

// serverMoves lists the moves a server connection may make:
//
//	idle    -> head     first byte of a request
//	head    -> idle     only empty lines arrived (RFC 9112 section 2.2)
//	head    -> body     head parsed, a body follows
//	head    -> respond  head parsed, no body
//	body    -> respond  body read to its end
//	body    -> drain    response sent before the body was read
//	respond -> idle     response sent, connection persists
//	drain   -> idle     body discarded, connection persists
//	any     -> closed   close requested, peer gone or protocol error
var serverMoves = [...][]ConnState{
	StateIdle:    {StateHead, StateClosed},
	StateHead:    {StateIdle, StateBody, StateRespond, StateClosed},
	StateBody:    {StateRespond, StateDrain, StateClosed},
	StateRespond: {StateIdle, StateClosed},
	StateDrain:   {StateIdle, StateClosed},
	StateClosed:  {StateClosed},
}

// clientMoves lists the moves a client connection may make while reading
// responses:
//
//	idle -> head    first byte of a response
//	head -> idle    interim (1xx) or bodiless response read
//	head -> body    head read, a body follows
//	body -> idle    body read, connection persists
//	any  -> closed  close requested, peer gone or protocol error
var clientMoves = [...][]ConnState{
	StateIdle:   {StateHead, StateClosed},
	StateHead:   {StateIdle, StateBody, StateClosed},
	StateBody:   {StateIdle, StateClosed},
	StateClosed: {StateClosed},
}

// advance moves *s to next, panicking on a move the table forbids: that
// would be a bug in this package, never the peer's doing.
func advance(moves [][]ConnState, s *ConnState, next ConnState) {
	if int(*s) < len(moves) {
		for _, ok := range moves[*s] {
			if ok == next {
				*s = next
				return
			}
		}
	}
	panic(fmt.Sprintf("wire: illegal state change %v -> %v", *s, next))
}
