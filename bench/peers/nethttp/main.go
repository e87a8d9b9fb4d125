// Command nethttp is a benchmark peer: kvhttp's GET and PUT /kv/{key}
// routes served by Go's net/http over the shared bbolt store (kvdb).
//
//	nethttp -addr 127.0.0.1:PORT -data DIR
//
// It prints "listening on ADDR" to stderr once ready and stops on SIGINT
// or SIGTERM, closing the store cleanly.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"kvhttp/bench/kvdb"
)

// maxBody caps a PUT body, as fasthttp's default does.
const maxBody = 4 << 20

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "nethttp:", err)
		os.Exit(1)
	}
}

func run() error {
	addr := flag.String("addr", "", "listen address, e.g. 127.0.0.1:8080 (required)")
	data := flag.String("data", "", "data folder for the bbolt file (required)")
	flag.Parse()
	if *addr == "" || *data == "" {
		flag.Usage()
		return errors.New("-addr and -data are required")
	}
	db, err := kvdb.Open(*data)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return errors.Join(fmt.Errorf("listen: %w", err), db.Close())
	}
	srv := &http.Server{
		Handler:           routes(db),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	fmt.Fprintln(os.Stderr, "listening on", ln.Addr())

	select {
	case err = <-served:
		err = fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if serr := srv.Shutdown(sctx); serr != nil {
			err = fmt.Errorf("shutdown: %w", serr)
		}
	}
	return errors.Join(err, db.Close())
}

// routes serves GET (and HEAD) and PUT on /kv/{key}; the mux answers 404
// elsewhere and 405 for other methods.
func routes(db *kvdb.DB) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /kv/{key...}", func(w http.ResponseWriter, r *http.Request) {
		v, ok, err := db.Get([]byte(r.PathValue("key")))
		switch {
		case err != nil:
			http.Error(w, "storage error", http.StatusInternalServerError)
		case !ok:
			http.Error(w, "not found", http.StatusNotFound)
		default:
			h := w.Header()
			h["Content-Type"] = []string{"application/octet-stream"}
			h["Content-Length"] = []string{strconv.Itoa(len(v))}
			if r.Method != http.MethodHead {
				_, _ = w.Write(v) // a failed write is the client's loss
			}
		}
	})
	mux.HandleFunc("PUT /kv/{key...}", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
		if err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
				return
			}
			http.Error(w, "bad body", http.StatusBadRequest)
			return
		}
		created, err := db.Put([]byte(r.PathValue("key")), body)
		switch {
		case errors.Is(err, kvdb.ErrBadKey):
			http.Error(w, "bad key", http.StatusBadRequest)
		case err != nil:
			http.Error(w, "storage error", http.StatusInternalServerError)
		case created:
			w.WriteHeader(http.StatusCreated)
		default:
			w.WriteHeader(http.StatusNoContent)
		}
	})
	return mux
}
