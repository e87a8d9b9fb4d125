package api_test

import (
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"kvhttp/api"
	"kvhttp/store/boltstore"
)

// TestAsyncShutdownWithWritesInFlight: a server shut down while clients
// write through the asynchronous path (on Linux, commits the loop starts
// and ends itself) answers every write it took or closes the connection,
// returns from Shutdown, and every write it acknowledged is in the store
// when it is opened again.
func TestAsyncShutdownWithWritesInFlight(t *testing.T) {
	dir := t.TempDir()
	bolt, err := boltstore.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	st := &countingStore{Store: bolt}
	srv := startServerOn(t, st, api.Options{})
	const clients = 16
	acked := make([][]string, clients)
	var wg sync.WaitGroup
	for c := range clients {
		wg.Go(func() {
			conn, br := dialClient(t, srv.addr)
			if conn == nil {
				return
			}
			defer conn.Close()
			for i := 0; ; i++ {
				key := fmt.Sprintf("c%02d-%06d", c, i)
				if _, err := io.WriteString(conn, put("/kv/"+key, "v-"+key)); err != nil {
					return // closed by the shutdown
				}
				resp, err := http.ReadResponse(br, &http.Request{Method: "PUT"})
				if err != nil {
					return // closed by the shutdown: this write is in doubt
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 201 {
					t.Errorf("PUT %s: got %d; want 201", key, resp.StatusCode)
					return
				}
				acked[c] = append(acked[c], key)
				if resp.Close {
					return
				}
			}
		})
	}
	// Let the writes flow, then shut down under them.
	for deadline := time.Now().Add(10 * time.Second); st.async.Load() < 2000 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	srv.stop() // Shutdown, then the store's Close; errors fail the test
	wg.Wait()
	checkLoopCommits(t, st)
	reopened, err := boltstore.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer reopened.Close()
	total := 0
	for c, keys := range acked {
		total += len(keys)
		for _, key := range keys {
			it, err := reopened.Get(t.Context(), []byte(key), nil)
			if err != nil || string(it.Value) != "v-"+key {
				t.Fatalf("client %d: acknowledged %s: got %q, %v after reopening; want %q", c, key, it.Value, err, "v-"+key)
			}
		}
	}
	if total == 0 {
		t.Fatal("writes acknowledged before the shutdown: got 0; want some")
	}
	t.Logf("%d writes acknowledged, all there after reopening", total)
}
