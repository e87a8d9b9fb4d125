package redisstore_test

import (
	"context"
	"fmt"
	"log"

	"kvhttp/store"
	"kvhttp/store/redisstore"
)

// A store on a Redis Cluster, every write confirmed by one replica. (Not
// run by go test: it needs a cluster at these addresses; the package's
// tests start their own.)
func Example() {
	ctx := context.Background()
	s, err := redisstore.Open(ctx, redisstore.Options{
		Addrs:        []string{"127.0.0.1:7000", "127.0.0.1:7001", "127.0.0.1:7002"},
		Cluster:      true,
		WaitReplicas: 1,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	// Create-only: a second writer of the same key gets store.ErrExists.
	res, err := s.Put(ctx, []byte("greeting/en"), []byte("hello"), []byte("text/plain"), store.Cond{Kind: store.IfAbsent})
	if err != nil {
		log.Fatal(err)
	}
	// Compare-and-swap on the version the write returned.
	if _, err := s.Put(ctx, []byte("greeting/en"), []byte("hi"), nil, store.Cond{Kind: store.IfVersion, Version: res.Version}); err != nil {
		log.Fatal(err)
	}
	err = s.List(ctx, store.ListOptions{Prefix: []byte("greeting/"), Limit: 100}, func(it store.Item) error {
		fmt.Printf("%s = %s\n", it.Key, it.Value)
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}
}
