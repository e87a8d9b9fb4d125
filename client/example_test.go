package client_test

import (
	"context"
	"fmt"
	"log"
	"net"

	"kvhttp/client"
	"kvhttp/server"
)

func Example() {
	// A server to talk to, on a free loopback port.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	srv := &server.Server{Handler: server.HandlerFunc(func(w *server.ResponseWriter, r *server.Request) {
		w.Header().Add("Content-Type", "text/plain")
		fmt.Fprintf(w, "you asked for %s", r.Path)
	})}
	go srv.Serve(l)
	defer srv.Close()

	c := &client.Client{Addr: l.Addr().String()}
	defer c.Close()
	resp, err := c.Do(context.Background(), &client.Request{Method: "GET", Target: "/hello"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(resp.Status, string(resp.Header.Get("Content-Type")), string(resp.Body))
	// Output: 200 text/plain you asked for /hello
}
