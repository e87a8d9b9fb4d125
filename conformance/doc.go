// Package conformance holds kvhttp's black-box tests: raw byte sequences
// sent to a running server over loopback, each with the responses and the
// connection state it must produce. It runs the project's own cases
// (testdata/cases.tsv), the external corpora in ../shared/conformance, and
// a differential comparison with Go's net/http server. It has no code
// outside its tests.
package conformance
