// Command load fills a server with the benchmark's keys over HTTP: key i
// is named bench%06d (bench000000, bench000001, ...) and its value is -size
// bytes. Each key is written with PUT /kv/{key}; any answer but 2xx, or
// any transport error, fails the whole run.
//
//	load -addr 127.0.0.1:PORT [-keys 10000] [-size 64] [-c 16]
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	addr := flag.String("addr", "", "server address host:port (required)")
	keys := flag.Int("keys", 10000, "number of keys")
	size := flag.Int("size", 64, "bytes per value")
	conc := flag.Int("c", 16, "concurrent connections")
	flag.Parse()
	if *addr == "" || *keys < 0 || *size < 0 || *conc < 1 {
		flag.Usage()
		os.Exit(2)
	}
	start := time.Now()
	if err := load(*addr, *keys, *size, *conc); err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "load: %d keys of %d bytes in %v\n", *keys, *size, time.Since(start).Round(time.Millisecond))
}

// keyName returns the name of benchmark key i.
func keyName(i int) string { return fmt.Sprintf("bench%06d", i) }

func load(addr string, keys, size, conc int) error {
	value := bytes.Repeat([]byte("v"), size)
	client := &http.Client{
		Timeout:   30 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: conc, DisableCompression: true},
	}
	defer client.CloseIdleConnections()

	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make([]error, conc)
	for w := range conc {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= keys || errs[w] != nil {
					return
				}
				if err := put(client, addr, keyName(i), value); err != nil {
					errs[w] = err
					next.Store(int64(keys)) // stop the other workers
					return
				}
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

func put(client *http.Client, addr, key string, value []byte) error {
	url := "http://" + addr + "/kv/" + key
	req, err := http.NewRequest(http.MethodPut, url, bytes.NewReader(value))
	if err != nil {
		return fmt.Errorf("PUT %s: %w", url, err)
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("PUT %s: %w", url, err)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 512))
	_ = resp.Body.Close()
	if err != nil {
		return fmt.Errorf("PUT %s: read answer: %w", url, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("PUT %s: %s: %q", url, resp.Status, body)
	}
	return nil
}
