package storetest

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"

	"kvhttp/api"
	"kvhttp/store"
)

// workers is how many goroutines the concurrency tests run at once.
const workers = 32

func testConcurrentCreate(t *testing.T, s api.Store) {
	const rounds = 20
	for round := range rounds {
		key := fmt.Appendf(nil, "round-%d", round)
		var (
			mu      sync.Mutex
			winners []int
			wg      sync.WaitGroup
		)
		for w := range workers {
			wg.Go(func() {
				_, err := s.Put(t.Context(), key, []byte(strconv.Itoa(w)), nil, store.Cond{Kind: store.IfAbsent})
				if err != nil {
					wantErr(t, "losing Put IfAbsent", err, store.ErrExists)
					return
				}
				mu.Lock()
				winners = append(winners, w)
				mu.Unlock()
			})
		}
		wg.Wait()
		if len(winners) != 1 {
			t.Fatalf("round %d: winners: got %v; want exactly one", round, winners)
		}
		wantItem(t, mustGet(t, s, string(key)), string(key), strconv.Itoa(winners[0]), "", 0)
	}
}

func testConcurrentCompareAndSwap(t *testing.T, s api.Store) {
	const each = 20
	key := []byte("counter")
	mustPut(t, s, "counter", "0", "")

	var (
		mu      sync.Mutex
		written = make(map[int]int) // counter value -> times written
		wg      sync.WaitGroup
	)
	for range workers {
		wg.Go(func() {
			for range each {
				n, err := increment(t, s, key)
				if err != nil {
					t.Errorf("increment: %v", err)
					return
				}
				mu.Lock()
				written[n]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()

	const want = workers * each
	wantItem(t, mustGet(t, s, "counter"), "counter", strconv.Itoa(want), "", 0)
	// Each increment wrote the next value exactly once: none was lost to a
	// concurrent writer, none was applied twice.
	var wrong []string
	for n := 1; n <= want; n++ {
		if written[n] != 1 {
			wrong = append(wrong, fmt.Sprintf("%d written %d times", n, written[n]))
		}
	}
	if len(wrong) > 0 {
		t.Errorf("counter values: got %d not written once (%s); want each of 1..%d written once", len(wrong), strings.Join(wrong[:min(len(wrong), 5)], ", "), want)
	}
}

// increment adds one to the decimal counter under key by compare-and-swap,
// retrying when another writer got there first, and returns the value it
// wrote.
func increment(t *testing.T, s api.Store, key []byte) (int, error) {
	var buf []byte
	for {
		it, err := s.Get(t.Context(), key, buf)
		if err != nil {
			return 0, err
		}
		n, err := strconv.Atoi(string(it.Value))
		if err != nil {
			return 0, err
		}
		next := []byte(strconv.Itoa(n + 1))
		_, err = s.Put(t.Context(), key, next, nil, store.Cond{Kind: store.IfVersion, Version: it.Version})
		if errors.Is(err, store.ErrVersionMismatch) {
			buf = it.Value[:0]
			continue
		}
		return n + 1, err
	}
}
