package wire

import (
	"errors"
	"fmt"
)

// ErrNeedMore reports that the bytes fed so far end inside a message part:
// feed more (or report EOF) and call again. It is not a protocol error.
var ErrNeedMore = errors.New("wire: need more data")

// ErrSequence reports a call the connection's state does not allow, such as
// a second response to one request: a bug in the caller, not the peer.
var ErrSequence = errors.New("wire: call out of sequence")

// Protocol violations by the peer. Each is returned wrapped in a
// *ProtocolError whose Status comes from the statuses table below.
var (
	ErrBareLF             = errors.New("wire: line ending is a bare LF, not CRLF")
	ErrBareCR             = errors.New("wire: bare CR not followed by LF")
	ErrObsFold            = errors.New("wire: obsolete line folding or whitespace before a field line")
	ErrSpaceBeforeColon   = errors.New("wire: whitespace between field name and colon")
	ErrFieldName          = errors.New("wire: invalid field name")
	ErrFieldValue         = errors.New("wire: invalid character in field value")
	ErrRequestLine        = errors.New("wire: malformed request line")
	ErrMethod             = errors.New("wire: invalid method")
	ErrMethodUnknown      = errors.New("wire: method not implemented")
	ErrTarget             = errors.New("wire: invalid request target")
	ErrVersion            = errors.New("wire: malformed HTTP version")
	ErrVersionUnsupported = errors.New("wire: HTTP version not supported")
	ErrStatusLine         = errors.New("wire: malformed status line")
	ErrHostMissing        = errors.New("wire: HTTP/1.1 request without Host")
	ErrHostRepeated       = errors.New("wire: more than one Host field")
	ErrHost               = errors.New("wire: invalid Host field")
	ErrContentLength      = errors.New("wire: invalid Content-Length")
	ErrContentLengthTwice = errors.New("wire: more than one Content-Length value")
	ErrLengthAndChunked   = errors.New("wire: both Transfer-Encoding and Content-Length")
	ErrTransferEncoding   = errors.New("wire: invalid Transfer-Encoding")
	ErrCodingUnsupported  = errors.New("wire: transfer coding not implemented")
	ErrTransferHTTP10     = errors.New("wire: Transfer-Encoding in an HTTP/1.0 message")
	ErrChunk              = errors.New("wire: malformed chunk")
	ErrTunnel             = errors.New("wire: tunnels (CONNECT) are not supported")
	ErrLineTooLong        = errors.New("wire: request line too long")
	ErrHeaderTooLarge     = errors.New("wire: header section too large")
	ErrTooManyFields      = errors.New("wire: too many header fields")
	ErrBodyTooLarge       = errors.New("wire: body too large")
	ErrTruncated          = errors.New("wire: connection closed inside a message")
	ErrUnsolicited        = errors.New("wire: response without a request")
	ErrTimeout            = errors.New("wire: request not received in time")
)

// statuses is the one table from protocol errors to the status a server
// answers with. Errors absent from it are answered with 400.
var statuses = map[error]int{
	ErrMethodUnknown:      501,
	ErrCodingUnsupported:  501,
	ErrTunnel:             501,
	ErrVersionUnsupported: 505,
	ErrLineTooLong:        414,
	ErrHeaderTooLarge:     431,
	ErrTooManyFields:      431,
	ErrBodyTooLarge:       413,
	ErrTimeout:            408,
}

// ProtocolError is a message the peer sent that this codec refuses. Status is
// the response a server should send before closing the connection.
type ProtocolError struct {
	Status int
	Err    error // one of the Err* sentinels above
	Offset int   // bytes into the message part where the problem was found, or -1
}

func (e *ProtocolError) Error() string {
	if e.Offset >= 0 {
		return fmt.Sprintf("%v (status %d, at byte %d)", e.Err, e.Status, e.Offset)
	}
	return fmt.Sprintf("%v (status %d)", e.Err, e.Status)
}

func (e *ProtocolError) Unwrap() error { return e.Err }

// protoErr wraps a sentinel with its status; off < 0 when no offset applies.
func protoErr(err error, off int) *ProtocolError {
	status, ok := statuses[err]
	if !ok {
		status = 400
	}
	return &ProtocolError{Status: status, Err: err, Offset: off}
}
