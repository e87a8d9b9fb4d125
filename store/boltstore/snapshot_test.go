package boltstore

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"kvhttp/store"
)

// TestGetSeesAcknowledgedWrite: a Get that starts after a write returned
// sees it, however warm the shared read transactions are.
func TestGetSeesAcknowledgedWrite(t *testing.T) {
	s := openStarted(t)
	ctx := context.Background()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 { // keep snapshots in use
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				s.Get(ctx, []byte("counter"), nil)
			}
		})
	}
	written := make(chan int)
	wg.Go(func() {
		defer close(written)
		for i := 1; i <= 500; i++ {
			if _, err := s.Put(ctx, []byte("counter"), []byte(strconv.Itoa(i)), nil, store.Cond{}); err != nil {
				t.Errorf("Put %d: %v", i, err)
				return
			}
			written <- i
		}
	})
	for i := range written {
		it, err := s.Get(ctx, []byte("counter"), nil)
		if err != nil {
			t.Fatalf("Get after write %d: %v", i, err)
		}
		if got, _ := strconv.Atoi(string(it.Value)); got < i {
			t.Fatalf("Get after write %d was acknowledged: got %d; want %d or later", i, got, i)
		}
	}
	close(stop)
	wg.Wait()
}

// TestSnapshotsLetTheFileGrow: writes that grow the file (and so remap
// it, which waits for every read transaction) go through while Gets keep
// the shared read transactions busy.
func TestSnapshotsLetTheFileGrow(t *testing.T) {
	s := openStarted(t)
	ctx := context.Background()
	mustPutValue(t, s, "hot", []byte("v"))
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := s.Get(ctx, []byte("hot"), nil); err != nil {
					t.Errorf("Get: %v", err)
					return
				}
			}
		})
	}
	done := make(chan struct{})
	big := bytes.Repeat([]byte("g"), 1<<20)
	go func() {
		defer close(done)
		for i := range 64 { // 64 MiB: several remaps
			mustPutValue(t, s, fmt.Sprintf("big%02d", i), big)
		}
	}()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("writes growing the file did not finish in 60 s beside busy readers")
	}
	close(stop)
	wg.Wait()
	it, err := s.Get(ctx, []byte("big63"), nil)
	if err != nil || len(it.Value) != len(big) {
		t.Fatalf("the last big value: got %d bytes, %v; want %d bytes", len(it.Value), err, len(big))
	}
}

func mustPutValue(t *testing.T, s *Store, key string, value []byte) {
	t.Helper()
	if _, err := s.Put(context.Background(), []byte(key), value, nil, store.Cond{}); err != nil {
		t.Errorf("Put %s: %v", key, err)
	}
}

// openStarted opens a Store in a temporary folder, closed when the test
// ends.
func openStarted(t *testing.T) *Store {
	t.Helper()
	s, err := Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}
