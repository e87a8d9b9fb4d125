package server_test

import (
	"context"
	"fmt"
	"log"
	"net"
	"time"

	"kvhttp/server"
)

// A handler writes a status, fields and a body; the server adds Date and
// Content-Length and takes care of the connection.
func ExampleServer() {
	srv := &server.Server{
		Handler: server.HandlerFunc(func(w *server.ResponseWriter, r *server.Request) {
			if string(r.Path) != "/" {
				w.WriteHeader(404)
				return
			}
			w.Header().Add("Content-Type", "text/plain")
			w.WriteString("hello\n")
		}),
		IdleTimeout: 30 * time.Second,
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()

	// ... serve until it is time to stop, then stop gracefully.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		log.Fatal(err)
	}
	fmt.Println(<-done)
	// Output: server: closed
}
