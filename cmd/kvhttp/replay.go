package main

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"kvhttp/client"
)

func newReplayCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "replay FILE",
		Short: "Run a scenario of requests and check each status",
		Long: `Send the requests of a scenario file in order, on one connection, and
report PASS or FAIL for each by its status. Each line reads

    STATUS METHOD TARGET [BODY]

where BODY is the rest of the line, with \n, \r, \t and \\ as escapes.
Blank lines and lines starting with # are skipped. examples/origin.replay
holds the origin's nine cases. Exit status 1 if any line fails.`,
		Args: args(1),
		RunE: func(cmd *cobra.Command, a []string) error {
			f, err := os.Open(a[0])
			if err != nil {
				return err
			}
			defer f.Close()
			steps, err := parseScenario(a[0], bufio.NewScanner(f))
			if err != nil {
				return err
			}
			c := newClient(cmd)
			defer c.Close()
			out := cmd.OutOrStdout()
			failed := 0
			for _, s := range steps {
				ctx, cancel := withTimeout(cmd)
				resp, err := c.Do(ctx, &client.Request{Method: s.method, Target: s.target, Body: []byte(s.body)})
				cancel()
				if err != nil {
					return remote(err)
				}
				if resp.Status == s.status {
					fmt.Fprintf(out, "PASS  line %d: %s %s -> %d\n", s.line, s.method, s.target, resp.Status)
				} else {
					failed++
					fmt.Fprintf(out, "FAIL  line %d: %s %s -> %d, want %d\n", s.line, s.method, s.target, resp.Status, s.status)
				}
			}
			fmt.Fprintf(out, "%d passed, %d failed\n", len(steps)-failed, failed)
			if failed > 0 {
				return fmt.Errorf("%d of %d requests got another status", failed, len(steps))
			}
			return nil
		},
	}
}

// step is one line of a scenario.
type step struct {
	line                 int
	status               int
	method, target, body string
}

// parseScenario reads a scenario file: STATUS METHOD TARGET [BODY] lines.
func parseScenario(name string, sc *bufio.Scanner) ([]step, error) {
	var steps []step
	n := 1
	for ; sc.Scan(); n++ {
		line := strings.TrimRight(sc.Text(), "\r")
		if strings.TrimSpace(line) == "" || strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		parts := strings.SplitN(line, " ", 4)
		if len(parts) < 3 {
			return nil, fmt.Errorf("%s:%d: want STATUS METHOD TARGET [BODY]", name, n)
		}
		status, err := strconv.Atoi(parts[0])
		if err != nil || status < 100 || status > 999 {
			return nil, fmt.Errorf("%s:%d: %q is not a status code", name, n, parts[0])
		}
		s := step{line: n, status: status, method: parts[1], target: parts[2]}
		if len(parts) == 4 {
			s.body = unescape(parts[3])
		}
		steps = append(steps, s)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s:%d: %w", name, n, err)
	}
	return steps, nil
}

var escapes = strings.NewReplacer(`\\`, `\`, `\n`, "\n", `\r`, "\r", `\t`, "\t")

func unescape(s string) string { return escapes.Replace(s) }
