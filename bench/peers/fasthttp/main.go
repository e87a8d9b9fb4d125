// Command fasthttp is a benchmark peer: kvhttp's GET and PUT /kv/{key}
// routes served by github.com/valyala/fasthttp over the shared bbolt store
// (kvdb), written the way fasthttp is meant to be used: one Handler, no
// router, pooled buffers.
//
//	fasthttp -addr 127.0.0.1:PORT -data DIR
//
// It prints "listening on ADDR" to stderr once ready and stops on SIGINT
// or SIGTERM, closing the store cleanly.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"

	"kvhttp/bench/kvdb"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "fasthttp:", err)
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
	h := &handler{db: db}
	srv := &fasthttp.Server{
		Handler:      h.serve,
		Name:         "fasthttp",
		ReadTimeout:  30 * time.Second,
		WriteTimeout: 30 * time.Second,
		IdleTimeout:  120 * time.Second,
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
		if serr := srv.ShutdownWithContext(sctx); serr != nil {
			err = fmt.Errorf("shutdown: %w", serr)
		}
	}
	return errors.Join(err, db.Close())
}

var (
	prefix      = []byte("/kv/")
	octetStream = []byte("application/octet-stream")
)

// handler serves GET (and HEAD) and PUT on /kv/{key}.
type handler struct {
	db   *kvdb.DB
	bufs sync.Pool // *[]byte, values read from the store
}

func (h *handler) serve(ctx *fasthttp.RequestCtx) {
	path := ctx.Path()
	if !bytes.HasPrefix(path, prefix) || len(path) == len(prefix) {
		ctx.Error("not found", fasthttp.StatusNotFound)
		return
	}
	key := path[len(prefix):]
	switch {
	case ctx.IsGet() || ctx.IsHead():
		h.get(ctx, key)
	case ctx.IsPut():
		h.put(ctx, key)
	default:
		ctx.Response.Header.Set("Allow", "GET, HEAD, PUT")
		ctx.Error("method not allowed", fasthttp.StatusMethodNotAllowed)
	}
}

func (h *handler) get(ctx *fasthttp.RequestCtx, key []byte) {
	bp, _ := h.bufs.Get().(*[]byte)
	if bp == nil {
		bp = new([]byte)
	}
	defer h.bufs.Put(bp)
	v, ok, err := h.db.Append((*bp)[:0], key)
	*bp = v
	switch {
	case err != nil:
		ctx.Error("storage error", fasthttp.StatusInternalServerError)
	case !ok:
		ctx.Error("not found", fasthttp.StatusNotFound)
	default:
		ctx.SetContentTypeBytes(octetStream)
		ctx.SetBody(v) // copies into the response's own buffer
	}
}

func (h *handler) put(ctx *fasthttp.RequestCtx, key []byte) {
	// Put returns only after the commit, so key and body stay valid
	// for as long as bbolt needs them.
	created, err := h.db.Put(key, ctx.PostBody())
	switch {
	case errors.Is(err, kvdb.ErrBadKey):
		ctx.Error("bad key", fasthttp.StatusBadRequest)
	case err != nil:
		ctx.Error("storage error", fasthttp.StatusInternalServerError)
	case created:
		ctx.SetStatusCode(fasthttp.StatusCreated)
	default:
		ctx.SetStatusCode(fasthttp.StatusNoContent)
	}
}
