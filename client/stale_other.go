//go:build !unix

package client

// stale reports whether the connection is known to be unusable; without a
// way to peek at the socket here, it never is.
func (cn *conn) stale() bool { return false }
