//go:build race

package api_test

// raceEnabled reports a build with the race detector, which allocates on
// its own: allocation counts mean nothing there.
const raceEnabled = true
