//go:build race

package sockio

// raceEnabled: under the race detector, reads and writes go through
// package syscall's calls, which tell the detector that a write and the
// read of its bytes order their goroutines and that a read fills its
// buffer. The raw calls say neither, so the detector would report races
// that are not there and miss a buffer still in use when a read fills it.
const raceEnabled = true
