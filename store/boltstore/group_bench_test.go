package boltstore

import (
	"bytes"
	"fmt"
	"runtime"
	"testing"

	"kvhttp/store"
)

// BenchmarkPutConcurrent measures durable writes from 64 writers at once,
// as a server with 64 busy connections makes them, and reports how many
// writes share a log sync.
func BenchmarkPutConcurrent(b *testing.B) {
	s, err := Open(b.TempDir(), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	value := bytes.Repeat([]byte{'v'}, 64)
	b.SetParallelism(64 / runtime.GOMAXPROCS(0)) // 64 writers in all
	b.ReportAllocs()
	start := s.commits.Load()
	b.RunParallel(func(pb *testing.PB) {
		key := make([]byte, 0, 16)
		i := 0
		for pb.Next() {
			key = fmt.Appendf(key[:0], "key/%05d", i%10000)
			i += 7
			if _, err := s.Put(b.Context(), key, value, nil, store.Cond{}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	if n := s.commits.Load() - start; n > 0 {
		b.ReportMetric(float64(b.N)/float64(n), "writes/sync")
	}
}
