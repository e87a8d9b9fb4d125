package client

import (
	"context"
	"errors"
	"fmt"

	"kvhttp/wire"
)

// ErrPipelineCut reports that the server closed a pipelined connection
// before answering every request.
var ErrPipelineCut = errors.New("client: connection closed before every pipelined request was answered")

// Pipeline sends all reqs on one connection in one write, then reads their
// responses, which HTTP/1.1 returns in the same order. It saves a round
// trip per request; it is not retried, and requests with
// "Expect: 100-continue" are sent without waiting. On an error it returns
// the responses read so far.
func (c *Client) Pipeline(ctx context.Context, reqs []*Request) ([]*Response, error) {
	cn, _, err := c.get(ctx, false)
	if err != nil {
		return nil, err
	}
	if err := cn.begin(ctx); err != nil {
		cn.close()
		return nil, err
	}
	resps, err := cn.pipeline(ctx, reqs)
	cn.release() // before put: once put, the connection is another's
	if err != nil {
		cn.close()
		return resps, err
	}
	c.put(cn)
	return resps, nil
}

// pipeline sends reqs in one write and reads their responses.
func (cn *conn) pipeline(ctx context.Context, reqs []*Request) ([]*Response, error) {
	for _, req := range reqs {
		if _, err := cn.encode(req, false); err != nil { // a pipelined body cannot wait
			return nil, err
		}
	}
	if err := cn.send(ctx); err != nil {
		return nil, err
	}
	resps := make([]*Response, 0, len(reqs))
	for range reqs {
		resp, err := cn.receive(ctx)
		if err == nil {
			err = cn.readAll(ctx, resp)
		}
		if err != nil {
			if len(resps) > 0 && cn.wc.State() == wire.StateClosed {
				err = fmt.Errorf("%w (%d of %d): %w", ErrPipelineCut, len(resps), len(reqs), err)
			}
			return resps, err
		}
		resps = append(resps, resp)
	}
	return resps, nil
}
