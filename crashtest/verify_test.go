//go:build crash

package crashtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"

	"kvhttp/client"
	"kvhttp/store"
	"kvhttp/store/boltstore"
)

// A fileReport is what one check of the data file found, with the server
// stopped.
type fileReport struct {
	keys    int  // keys in the file
	acked   int  // acknowledged writes checked
	lost    int  // acknowledged writes missing or wrong, this check
	bad     int  // values that are wrong, torn, or were never sent
	corrupt bool // bbolt's consistency check failed, or the store would not open
	// counters holds each counter's value, 0 when absent.
	counters [numCounters]int64
}

// checkFile opens the bbolt file read-only and runs bbolt's consistency
// check on it, returning every inconsistency found.
func checkFile(path string) error {
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		return fmt.Errorf("opening %s read-only: %w", path, err)
	}
	defer db.Close()
	var errs []error
	err = db.View(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			errs = append(errs, err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("checking %s: %w", path, err)
	}
	if len(errs) > 0 {
		return fmt.Errorf("checking %s: %d inconsistencies: %w", path, len(errs), errors.Join(errs...))
	}
	return nil
}

// verifyFile checks the data file in dir against the ledger, with the
// server stopped: bbolt's consistency check, then every key read back
// through package boltstore, as the server reads them. Every acknowledged
// unique key must hold its value at the version acknowledged; every
// counter must be at least its highest acknowledged value and at most the
// increments that may have been applied; every value must pass its
// checksum; and no key that was never sent may exist.
//
// It checks a copy of the folder: opening the store recovers it (replays
// the log, checkpoints), and the server must do that itself on the crashed
// folder, or a recovery bug of the server's that Open and Close here
// would repair could not show.
func verifyFile(ctx context.Context, rep *reporter, dir string, l *ledger, life int) fileReport {
	var fr fileReport
	scratch, err := os.MkdirTemp("", "crashtest-copy-")
	if err == nil {
		defer os.RemoveAll(scratch)
		err = copyFolder(dir, scratch)
	}
	if err != nil {
		fr.corrupt = true
		rep.errorf("life %d: copying the data folder: %v", life, err)
		return fr
	}
	dir = scratch
	path := filepath.Join(dir, boltstore.FileName)
	if err := checkFile(path); err != nil {
		fr.corrupt = true
		rep.errorf("life %d: corrupt file: %v", life, err)
	}
	st, err := boltstore.Open(dir, &boltstore.Options{LockTimeout: time.Second})
	if err != nil {
		fr.corrupt = true
		rep.errorf("life %d: the data file does not open as a store: %v", life, err)
		return fr
	}
	defer func() {
		if err := st.Close(); err != nil {
			rep.errorf("life %d: %v", life, err)
		}
	}()

	l.mu.Lock()
	defer l.mu.Unlock()
	found := make(map[runID]int) // acknowledged keys found, per run
	var present [numCounters]bool
	err = st.List(ctx, store.ListOptions{}, func(it store.Item) error {
		fr.keys++
		key := string(it.Key)
		if i, ok := parseCounterKey(key); ok {
			n, err := counterValue(key, it.Value)
			if err != nil {
				fr.bad++
				rep.errorf("life %d: %v", life, err)
				return nil
			}
			fr.counters[i], present[i] = n, true
			return nil
		}
		id, seq, ok := parseUniqueKey(key)
		r := l.runs[id]
		if !ok || r == nil || seq >= r.sent {
			fr.bad++
			rep.errorf("life %d: key %q was never sent (value %q)", life, key, it.Value)
			return nil
		}
		if payload, ok := unseal(key, it.Value); !ok || payload != key {
			fr.bad++
			rep.errorf("life %d: key %q: got value %q; want %q", life, key, it.Value, seal(key, key))
			return nil
		}
		if seq < len(r.versions) {
			found[id]++
			if want := r.versions[seq]; it.Version != want {
				fr.bad++
				rep.errorf("life %d: key %q: got version %d; want %d, as acknowledged", life, key, it.Version, want)
			}
		}
		return nil
	})
	if err != nil {
		fr.corrupt = true
		rep.errorf("life %d: listing the store: %v", life, err)
		return fr
	}

	for id, r := range l.runs {
		fr.acked += len(r.versions)
		if found[id] == len(r.versions) {
			continue
		}
		// Some are missing or wrong: find which, by reading each back.
		for seq := range r.versions {
			key := uniqueKey(id, seq)
			it, err := st.Get(ctx, []byte(key), nil)
			if err == nil && string(it.Value) == string(seal(key, key)) {
				continue
			}
			fr.lost++
			l.lostKeys[key] = true
			if err != nil {
				rep.errorf("life %d: acknowledged key %q: got %v; want its value", life, key, err)
			}
		}
	}
	for i, c := range l.counters {
		fr.acked += int(c.acked)
		key := counterKey(i)
		got := fr.counters[i]
		// Every increment applied adds one (compare-and-swap from the value
		// read), so the value is at least the increments acknowledged, and
		// at least the highest value acknowledged.
		floor := max(c.max, c.acked)
		switch {
		case got < floor:
			fr.lost += int(floor - got)
			l.lostIncrements[i] = max(l.lostIncrements[i], floor-got)
			rep.errorf("life %d: %s: got %d (present %v); want at least %d (highest acknowledged %d, %d increments acknowledged)", life, key, got, present[i], floor, c.max, c.acked)
		case got > c.acked+c.inDoubt:
			fr.bad++
			rep.errorf("life %d: %s: got %d; want at most %d (%d acknowledged increments + %d in doubt)", life, key, got, c.acked+c.inDoubt, c.acked, c.inDoubt)
		}
	}
	return fr
}

// copyFolder copies the regular files of src into dst.
func copyFolder(src, dst string) error {
	ents, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o600); err != nil {
			return err
		}
	}
	return nil
}

// crossCheck asks a freshly started server, before any write, for what
// the last check of the file found: each counter's value, and the last
// acknowledged key of each run of life, unless that check found it lost.
// It returns how many answers differ.
func crossCheck(ctx context.Context, rep *reporter, s *server, l *ledger, fr fileReport, life int) int {
	c := &client.Client{Addr: s.addr, MaxIdleConns: 1}
	defer c.Close()
	bad := 0
	for i, want := range fr.counters {
		key := counterKey(i)
		it, err := c.Get(ctx, key)
		var got int64
		if err == nil {
			got, err = counterValue(key, it.Value)
		}
		if want == 0 && errors.Is(err, client.ErrNotFound) {
			continue
		}
		if ctx.Err() != nil {
			return bad // the caller reports the deadline
		}
		if err != nil || got != want {
			bad++
			rep.errorf("after life %d: GET %s: got %d, %v; want %d as in the file", life, key, got, err, want)
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for id, r := range l.runs {
		if id.life != life || len(r.versions) == 0 {
			continue
		}
		seq := len(r.versions) - 1
		key := uniqueKey(id, seq)
		if l.lostKeys[key] {
			continue // reported by the check of the file
		}
		it, err := c.Get(ctx, key)
		if ctx.Err() != nil {
			return bad // the caller reports the deadline
		}
		if err != nil {
			bad++
			rep.errorf("after life %d: GET %s: %v", life, key, err)
			continue
		}
		wantTag := `"` + strconv.FormatUint(r.versions[seq], 10) + `"`
		if string(it.Value) != string(seal(key, key)) || it.ETag != wantTag {
			bad++
			rep.errorf("after life %d: GET %s: got %q, ETag %s; want %q, ETag %s", life, key, it.Value, it.ETag, seal(key, key), wantTag)
		}
	}
	return bad
}
