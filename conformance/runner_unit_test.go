package conformance

import "testing"

// TestMatches checks the runner's verdicts themselves, so that a suite
// that passes is not passing by accident.
func TestMatches(t *testing.T) {
	tests := []struct {
		expected string
		got      outcome
		routeOK  bool
		want     bool
	}{
		{"400+close", outcome{statuses: []int{400}, closed: true}, false, true},
		{"400+close", outcome{statuses: []int{400}}, false, false},
		{"400+close", outcome{statuses: []int{400, 200}, closed: true}, false, false},
		{"200,200+open", outcome{statuses: []int{200, 200}}, false, true},
		{"200,200+open", outcome{statuses: []int{200}}, false, false},
		{"100,200+open", outcome{statuses: []int{100, 200}}, false, true},
		{"200+open", outcome{statuses: []int{100, 200}}, false, true},
		{"100,200", outcome{statuses: []int{200}}, false, false},
		{"wait", outcome{}, false, true},
		{"wait", outcome{closed: true}, false, false},
		{"wait", outcome{statuses: []int{400}}, false, false},
		{"!400", outcome{statuses: []int{404}}, false, true},
		{"!400", outcome{statuses: []int{400}}, false, false},
		{"2xx", outcome{statuses: []int{404}}, true, true},
		{"2xx", outcome{statuses: []int{404}}, false, false},
		{"4xx|501", outcome{statuses: []int{501}}, false, true},
		{"none+close", outcome{closed: true}, false, true},
		{"400 -- a comment", outcome{statuses: []int{-1}}, false, false},
		{"any", outcome{statuses: []int{-1}}, false, true},
	}
	for _, tc := range tests {
		if got := matches(tc.expected, tc.got, matchOptions{routeOK: tc.routeOK}); got != tc.want {
			t.Errorf("%q against %v: got %v; want %v", tc.expected, tc.got, got, tc.want)
		}
	}
	for _, tc := range []struct{ d, want string }{
		{"400 or 2xx", "400|2xx"},
		{"400/close/timeout", "400|none+close|wait"},
		{"2xx + close", "2xx+close"},
		{"400, or 2xx + close", "400|2xx+close"},
		{"400 or close (pass), 2xx (warn)", "400|none+close"},
		{"non-101 (426 preferred)", "!101"},
		{"405 + Allow header", "405"},
		{"not 414", "!414"},
	} {
		if got, why := describedExpectation(tc.d); got != tc.want {
			t.Errorf("%q: got %q (%s); want %q", tc.d, got, why, tc.want)
		}
	}
}
