//go:build !race

package api_test

// raceEnabled reports a build with the race detector (race_test.go).
const raceEnabled = false
