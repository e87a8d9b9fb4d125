//go:build crash

package crashtest

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"kvhttp/client"
)

var (
	crashes = flag.Int("crashes", 20, "lives of the server, each ended by SIGKILL")
	// fastCheckpoint is the checkpoint period of every other life.
	fastCheckpoint = flag.Duration("fast-checkpoint", 20*time.Millisecond, "checkpoint period of every other life")
	writers        = flag.Int("writers", 64, "concurrent writers: half write unique keys, half increment counters")
	runFor         = flag.Duration("run-for", 2*time.Second, "longest life: the kill comes at a uniformly random moment between 100ms (or run-for, if shorter) and run-for")
	deadline       = flag.Duration("deadline", 0, "bound on the whole test; 0 means 1m plus run-for and 10s per crash")
	seed           = flag.Uint64("seed", 0, "seed for the kill times and the writers' choices; 0 picks one, which the test logs")
)

const (
	// minLife is the shortest life, unless run-for is shorter.
	minLife = 100 * time.Millisecond
	// drainTimeout bounds the writers' ending after the kill: each ends at
	// its first failed exchange, which follows the kill at once.
	drainTimeout = 30 * time.Second
)

// A summary is the totals over all lives.
type summary struct {
	crashes      int   // lives ended by SIGKILL and checked
	acked        int64 // writes acknowledged
	lost         int   // acknowledged writes found missing or wrong, each counted once
	corruptFiles int   // checks that found the file inconsistent or unopenable
	bad          int   // wrong, torn or never-sent values, versions gone back
	errs         int64 // failed exchanges while the server was up, unexpected statuses
	inDoubt      int64 // writes sent that got no answer
}

// String is the summary line, in a stable format for scripts and docs.
func (s summary) String() string {
	return fmt.Sprintf("crashes=%d acknowledged=%d lost=%d corrupt_files=%d bad_values=%d errors=%d in_doubt=%d",
		s.crashes, s.acked, s.lost, s.corruptFiles, s.bad, s.errs, s.inDoubt)
}

// TestCrash runs the server on one data folder for -crashes lives, each
// ended by SIGKILL at a random moment under concurrent writes, and checks
// after each that no acknowledged write was lost and that the file is
// consistent (see the package documentation).
func TestCrash(t *testing.T) {
	if *crashes < 1 || *writers < 2 || *runFor <= 0 {
		t.Fatalf("flags: got -crashes %d -writers %d -run-for %v; want at least 1, 2 and above 0", *crashes, *writers, *runFor)
	}
	limit := *deadline
	if limit <= 0 {
		limit = time.Minute + time.Duration(*crashes)*(*runFor+10*time.Second)
	}
	ctx, cancel := context.WithTimeout(t.Context(), limit)
	defer cancel()
	// checkDeadline fails the test clearly once the deadline has passed.
	checkDeadline := func(when string) {
		t.Helper()
		if ctx.Err() != nil {
			t.Fatalf("%s: the test's deadline of %v (-deadline) has passed: %v", when, limit, context.Cause(ctx))
		}
	}
	s1 := *seed
	if s1 == 0 {
		s1 = rand.Uint64()
	}
	t.Logf("seed %d (-seed to repeat the kill times)", s1)
	rng := rand.New(rand.NewPCG(s1, 0))

	bin := buildServer(ctx, t)
	checkDeadline("building the server")
	dir := t.TempDir()
	rep := &reporter{t: t}
	l := newLedger()
	var sum summary
	defer func() {
		line := sum.String()
		t.Logf("summary: %s", line)
		fmt.Println(line)
		if sum.lost > 0 || sum.corruptFiles > 0 || sum.bad > 0 || sum.errs > 0 {
			t.Errorf("got %s; want lost, corrupt_files, bad_values and errors all 0", line)
		}
	}()

	// start starts the server on dir, which must work: the first time on
	// a new folder, and after each crash on the file the crash left.
	start := func(when string, extra ...string) *server {
		t.Helper()
		s, err := startServer(ctx, t, bin, dir, extra...)
		checkDeadline(when)
		if err != nil {
			t.Fatalf("%s: the server must start on the data folder: %v", when, err)
		}
		return s
	}

	var last *fileReport
	for life := range *crashes {
		// Every other life checkpoints every -fast-checkpoint, so that
		// kills land inside checkpoints (bbolt's commit, the deletion of
		// segments) as well as between them.
		var extra []string
		if life%2 == 1 {
			extra = []string{"--checkpoint-every", fastCheckpoint.String()}
		}
		s := start(fmt.Sprintf("life %d", life), extra...)
		if last != nil {
			sum.bad += crossCheck(ctx, rep, s, l, *last, life-1)
			checkDeadline(fmt.Sprintf("asking the server after life %d", life-1))
		}
		lo := minLife
		if *runFor < lo {
			lo = *runFor
		}
		killAfter := lo + time.Duration(rng.Int64N(int64(*runFor-lo)+1))
		ld := runLife(ctx, t, s, l, life, killAfter, rng, rep)
		checkDeadline(fmt.Sprintf("life %d", life))

		// The check reads a file of bounded size: it runs to its end
		// whatever the deadline, so that it never takes a cut-short read
		// for a lost write.
		fr := verifyFile(context.WithoutCancel(ctx), rep, dir, l, life)
		sum.crashes++
		sum.acked += ld.acked.Load()
		sum.inDoubt += ld.inDoubt.Load()
		sum.errs += ld.errs.Load()
		sum.bad += int(ld.bad.Load()) + fr.bad
		sum.lost = l.lost()
		if fr.corrupt {
			sum.corruptFiles++
		}
		check := "check ok"
		if fr.corrupt {
			check = "CORRUPT"
		}
		t.Logf("life %d: killed after %v: %d writes acknowledged, %d in doubt; file: %s, %d keys, %d acknowledged writes checked, %d lost",
			life, killAfter.Round(time.Millisecond), ld.acked.Load(), ld.inDoubt.Load(), check, fr.keys, fr.acked, fr.lost)
		last = &fr
		checkDeadline(fmt.Sprintf("checking after life %d", life))
	}

	s := start("after the last crash")
	sum.bad += crossCheck(ctx, rep, s, l, *last, *crashes-1)
	checkDeadline("asking the server after the last crash")
	if err := s.stop(); err != nil {
		sum.errs++
		rep.errorf("stopping the server after the last check: %v", err)
	}
}

// runLife drives the writers against s until killAfter has passed, kills
// the server with SIGKILL, waits for it and for the writers to end, and
// returns what they saw.
func runLife(ctx context.Context, t *testing.T, s *server, l *ledger, life int, killAfter time.Duration, rng *rand.Rand, rep *reporter) *load {
	t.Helper()
	ld := &load{life: life, ledger: l, floor: l.floor, rep: rep}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for w := range *writers {
		c := &client.Client{Addr: s.addr, MaxIdleConns: 1}
		if w%2 == 0 {
			wg.Go(func() {
				defer c.Close()
				ld.writeUnique(wctx, c, w)
			})
		} else {
			wrng := rand.New(rand.NewPCG(rng.Uint64(), rng.Uint64()))
			wg.Go(func() {
				defer c.Close()
				ld.incrementCounters(wctx, c, wrng)
			})
		}
	}

	timer := time.NewTimer(killAfter)
	defer timer.Stop()
	select {
	case <-timer.C:
	case <-s.exited:
		ld.errs.Add(1)
		rep.errorf("life %d: the server exited by itself (%v); its log:\n%s", life, s.err, s.stderr.String())
	case <-ctx.Done():
	}
	ld.killed.Store(true)
	s.kill()

	drained := make(chan struct{})
	go func() {
		wg.Wait()
		close(drained)
	}()
	select {
	case <-drained:
	case <-time.After(drainTimeout):
		cancel()
		<-drained
		t.Fatalf("life %d: writers still running %v after the kill", life, drainTimeout)
	}
	l.floor = max(l.floor, ld.maxVersion.Load())
	return ld
}
