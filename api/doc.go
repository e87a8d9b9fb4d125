// Package api implements kvhttp's HTTP routes on top of a Store: the origin's
// routes (GET and HEAD /, POST /create, PUT /update) and the bulk import.
// It knows nothing of sockets or of any particular storage engine.
package api
