package conformance

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// sharedDir holds the external corpora, beside the project.
const sharedDir = "../../shared/conformance"

func sharedFile(t *testing.T, name string) string {
	t.Helper()
	path := filepath.Join(sharedDir, name)
	if _, err := os.Stat(path); err != nil {
		t.Skipf("the external corpus %s is not beside the project (../shared); CI has it", path)
	}
	return path
}

// llhttpDisagreements are the llhttp cases kvhttp answers otherwise, on
// purpose.
var llhttpDisagreements = map[string]string{
	"invalid-md-358-invalid-method":       "MKCOLA is a token but no method kvhttp knows: 501 (RFC 9110 section 9.1); llhttp, which knows methods by prefix, answers 400",
	"uri-md-224-host-port-and-basic-auth": "userinfo in an absolute-form target: 400 (RFC 9110 section 4.2.4: a recipient SHOULD treat it as an error, as it serves to disguise the host); llhttp accepts it",
}

// TestLLHTTP runs llhttp's request corpus (Node.js' parser). 404 and 405
// count as accepted: the corpus was written for other routes.
func TestLLHTTP(t *testing.T) {
	cases := readCases(t, sharedFile(t, "llhttp_blackbox.tsv"))
	failed := 0
	for _, r := range runAll(apiAddr, cases, matchOptions{routeOK: true}) {
		why, expected := llhttpDisagreements[r.c.name]
		switch {
		case !r.ok && !expected:
			failed++
			t.Errorf("%s: got %v (err %v); want %s", r.c.name, r.got, r.err, r.c.expected)
		case r.ok && expected:
			t.Errorf("%s: now passes; remove it from llhttpDisagreements (%s)", r.c.name, why)
		}
	}
	t.Logf("llhttp corpus: %d cases, %d failed, %d known disagreements", len(cases), failed, len(llhttpDisagreements))
}

// probeCase is one line of http11probe_cases.jsonl.
type probeCase struct {
	ID       string          `json:"id"`
	Kind     string          `json:"kind"`
	Payload  *string         `json:"payload"`
	Expected json.RawMessage `json:"expected"`
	RFC      *string         `json:"rfc"`
}

// probeDisagreements are the probe cases kvhttp answers otherwise, on
// purpose; probeUnjudged are those whose verdict needs more than statuses
// (a body's content, a field's format), which the black-box runner does not
// check.
var probeDisagreements = map[string]string{
	"MAL-POST-CL-HUGE-NO-BODY": "413: the declared length is over the body limit (RFC 9110 section 15.5.14), said before reading a byte; the probe accepts only 400, a close or a timeout",
}

// TestHTTP11Probe runs the single-request cases of Http11Probe whose
// expectations are statuses and connection states.
func TestHTTP11Probe(t *testing.T) {
	f, err := os.Open(sharedFile(t, "http11probe_cases.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var cases []tcase
	skipped := map[string]string{}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var p probeCase
		if err := json.Unmarshal(sc.Bytes(), &p); err != nil {
			t.Fatal(err)
		}
		switch expected, why := probeExpectation(p.Expected); {
		case p.Kind != "single" || p.Payload == nil:
			skipped[p.ID] = "computed or multi-step payload, not in the file"
		case why != "":
			skipped[p.ID] = why
		default:
			if _, err := decode(*p.Payload); err != nil {
				skipped[p.ID] = "payload notation: " + err.Error()
				continue
			}
			rule := ""
			if p.RFC != nil {
				rule = *p.RFC
			}
			cases = append(cases, tcase{name: p.ID, raw: *p.Payload, expected: expected, rule: rule})
		}
	}
	failed := 0
	for _, r := range runAll(apiAddr, cases, matchOptions{routeOK: true}) {
		why, known := probeDisagreements[r.c.name]
		switch {
		case !r.ok && !known:
			failed++
			t.Errorf("%s (%s): got %v (err %v); want %s", r.c.name, r.c.rule, r.got, r.err, r.c.expected)
		case r.ok && known:
			t.Errorf("%s: now passes; remove it from probeDisagreements (%s)", r.c.name, why)
		}
	}
	t.Logf("Http11Probe: %d cases run, %d failed, %d not judged by status", len(cases), failed, len(skipped))
	for id, why := range skipped {
		t.Logf("  not judged: %s: %s", id, why)
	}
}

var (
	exactStatus = regexp.MustCompile(`^StatusCodeRange\.Exact\((\d{3})\)$`)
	statusWord  = regexp.MustCompile(`^(?:!|non-|not )?(?:[1-5]\d\d|[1-5]xx)$`)
)

// probeExpectation translates an Http11Probe expectation into the runner's
// notation, or says why it cannot be judged by statuses alone.
func probeExpectation(raw json.RawMessage) (string, string) {
	var e struct {
		Description          string
		ExpectedStatus       string
		AllowConnectionClose string
	}
	json.Unmarshal(raw, &e)
	closeOK := ""
	if e.AllowConnectionClose == "true" {
		closeOK = "|none+close"
	}
	if m := exactStatus.FindStringSubmatch(e.ExpectedStatus); m != nil {
		return m[1] + closeOK, ""
	}
	if e.ExpectedStatus == "StatusCodeRange.Range2xx" {
		return "2xx" + closeOK, ""
	}
	return describedExpectation(e.Description)
}

// describedExpectation reads descriptions such as "400 or 2xx",
// "400/close/timeout", "2xx + close" or "400 or close (pass), 2xx (warn)":
// only the passing alternatives count; qualifiers after a status ("with
// Date header", "+ echo") are not checked.
func describedExpectation(d string) (string, string) {
	var passing []string
	for _, part := range regexp.MustCompile(`[,;]\s*`).Split(d, -1) {
		if strings.Contains(part, "(warn)") || strings.Contains(part, "(fail)") || strings.Contains(part, "warn") && strings.Contains(part, "=") {
			continue
		}
		part = strings.NewReplacer("(pass)", "", "preferred", "", "acceptable", "", "(rejected)", "", "(survived)", "").Replace(part)
		passing = append(passing, part)
	}
	var alts []string
	for _, part := range passing {
		for _, alt := range regexp.MustCompile(`\s+or\s+|/`).Split(strings.TrimSpace(part), -1) {
			words := strings.Fields(strings.ReplaceAll(alt, "+", " + "))
			status, closing := "", false
			for i := 0; i < len(words); i++ {
				w := words[i]
				switch {
				case w == "not" && i+1 < len(words):
					status, i = "!"+words[i+1], i+1
				case statusWord.MatchString(w):
					status = strings.Replace(strings.Replace(w, "non-", "!", 1), "not ", "!", 1)
				case w == "close" || w == "close)":
					closing = true
				case w == "timeout":
					status = "wait"
				}
			}
			switch {
			case status == "" && closing:
				alts = append(alts, "none+close")
			case status == "":
				return "", "expectation not about statuses: " + d
			case closing:
				alts = append(alts, status+"+close")
			default:
				alts = append(alts, status)
			}
		}
	}
	if len(alts) == 0 {
		return "", "no passing alternative in: " + d
	}
	return strings.Join(alts, "|"), ""
}
