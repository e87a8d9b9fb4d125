package api_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"kvhttp/client"
)

// BenchmarkImport10k times POST /import of 10,000 key:value lines over a
// real socket into bbolt: one durable transaction per import.
func BenchmarkImport10k(b *testing.B) {
	var lines strings.Builder
	for i := range 10000 {
		fmt.Fprintf(&lines, "key%05d:value %d\n", i, i)
	}
	body := []byte(lines.String())
	srv := startServer(b, b.TempDir())
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		resp, err := srv.client.Do(context.Background(), &client.Request{Method: "POST", Target: "/import", Body: body})
		if err != nil || resp.Status != 200 {
			b.Fatalf("got %v, %v", resp, err)
		}
	}
}
