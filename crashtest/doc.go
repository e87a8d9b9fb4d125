// Package crashtest proves that kvhttp loses no acknowledged write when its
// process dies. It has no code outside its test, which is behind the build
// tag crash because it builds the real binary and runs for a while:
//
//	go test -tags crash -count=1 -run TestCrash ./crashtest -crashes 20 -v
//
// (or scripts/crash.sh). The test runs the server on one data folder for a
// number of lives. In each, concurrent writers create unique keys and
// increment shared counters by compare-and-swap over HTTP, remembering
// every write the server acknowledged and every one left without an
// answer; at a random moment the server is killed with SIGKILL. With the
// server stopped, the test checks the bbolt file's consistency and reads
// every key back through package boltstore: every acknowledged write must
// be there, nothing may be half-written, and nothing that was never sent
// may appear. The server must then start again on the same folder and
// answer as the file says. A summary line reports the totals, see
// docs/DURABILITY.md.
package crashtest
