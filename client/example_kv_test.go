package client_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"os"

	"kvhttp/api"
	"kvhttp/client"
	"kvhttp/server"
	"kvhttp/store/boltstore"
)

// startExampleServer runs kvhttp's server over a temporary store.
func startExampleServer() (addr string, stop func()) {
	dir, err := os.MkdirTemp("", "kvhttp-example")
	if err != nil {
		log.Fatal(err)
	}
	st, err := boltstore.Open(dir, nil)
	if err != nil {
		log.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	srv := &server.Server{Handler: api.New(st, api.Options{})}
	go srv.Serve(l)
	return l.Addr().String(), func() {
		srv.Close()
		st.Close()
		os.RemoveAll(dir)
	}
}

// Compare-and-swap: write only if the value is still the one read.
func ExampleClient_Put() {
	addr, stop := startExampleServer()
	defer stop()
	c := &client.Client{Addr: addr}
	defer c.Close()
	ctx := context.Background()

	if _, err := c.Create(ctx, "counter", []byte("1")); err != nil {
		log.Fatal(err)
	}
	it, err := c.Get(ctx, "counter")
	if err != nil {
		log.Fatal(err)
	}
	_, err = c.Put(ctx, "counter", []byte("2"), &client.PutOptions{IfMatch: it.ETag})
	fmt.Println("first swap:", err)
	_, err = c.Put(ctx, "counter", []byte("3"), &client.PutOptions{IfMatch: it.ETag})
	fmt.Println("stale swap fails:", errors.Is(err, client.ErrPreconditionFailed))
	_, err = c.Get(ctx, "no such key")
	fmt.Println("missing:", errors.Is(err, client.ErrNotFound))
	// Output:
	// first swap: <nil>
	// stale swap fails: true
	// missing: true
}

// List walks every page of a listing.
func ExampleClient_List() {
	addr, stop := startExampleServer()
	defer stop()
	c := &client.Client{Addr: addr}
	defer c.Close()
	ctx := context.Background()
	for _, k := range []string{"user/2", "user/1", "group/1", "user/3"} {
		if _, err := c.Put(ctx, k, []byte("value of "+k), nil); err != nil {
			log.Fatal(err)
		}
	}
	for it, err := range c.List(ctx, client.ListOptions{Prefix: "user/", PageSize: 2}) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%s = %s\n", it.Key, it.Value)
	}
	// Output:
	// user/1 = value of user/1
	// user/2 = value of user/2
	// user/3 = value of user/3
}
