package boltstore_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"kvhttp/store"
	"kvhttp/store/boltstore"
)

func Example() {
	dir, err := os.MkdirTemp("", "boltstore-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	s, err := boltstore.Open(dir, nil)
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()

	res, err := s.Put(ctx, []byte("greeting/en"), []byte("hello"), []byte("text/plain"), store.Cond{Kind: store.IfAbsent})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("created:", res.Created)
	if _, err := s.Put(ctx, []byte("greeting/fr"), []byte("bonjour"), nil, store.Cond{}); err != nil {
		log.Fatal(err)
	}

	it, err := s.Get(ctx, []byte("greeting/en"), nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s is %q (%s)\n", it.Key, it.Value, it.ContentType)

	err = s.List(ctx, store.ListOptions{Prefix: []byte("greeting/")}, func(it store.Item) error {
		fmt.Printf("%s = %s\n", it.Key, it.Value)
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := s.Close(); err != nil {
		log.Fatal(err)
	}
	// Output:
	// created: true
	// greeting/en is "hello" (text/plain)
	// greeting/en = hello
	// greeting/fr = bonjour
}
