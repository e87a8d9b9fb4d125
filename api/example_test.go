package api_test

import (
	"context"
	"fmt"
	"log"
	"net"
	"os"

	"kvhttp/api"
	"kvhttp/client"
	"kvhttp/server"
	"kvhttp/store/boltstore"
)

// Serve the API over an embedded store and use the origin's routes.
func Example() {
	dir, err := os.MkdirTemp("", "kvhttp-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	st, err := boltstore.Open(dir, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	srv := &server.Server{Handler: api.New(st, api.Options{})}
	go srv.Serve(l)
	defer srv.Close()

	c := &client.Client{Addr: l.Addr().String()}
	defer c.Close()
	for _, req := range []*client.Request{
		{Method: "POST", Target: "/create", Body: []byte("name:kangjuseong")},
		{Method: "PUT", Target: "/update", Body: []byte("name:juseong-kang")},
		{Method: "PUT", Target: "/update", Body: []byte("grade:A")},
	} {
		resp, err := c.Do(context.Background(), req)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%d %s", resp.Status, resp.Body)
	}
	// Output:
	// 201 {"name":"kangjuseong"}
	// 200 {"name":"juseong-kang"}
	// 400 {"type":"urn:kvhttp:problem:key-missing","title":"Key does not exist","status":400,"detail":"key does not exist: \"grade\""}
}
