//go:build !linux

package server

// parker is Linux-only (epoll): elsewhere idle connections wait on their
// goroutines, and these do nothing.
type parker struct{}

func newParker(*Server) *parker { return nil }

func (p *parker) park(*conn) bool       { return false }
func (p *parker) parkLooped(*conn) bool { return false }
func (p *parker) complete(*conn) bool   { return false }
func (p *parker) forget(*conn)          {}
func (p *parker) reattach(*conn) bool   { return false }
func (p *parker) closeAll()             {}
func (p *parker) stop()                 {}
func (p *parker) count() int            { return 0 }
