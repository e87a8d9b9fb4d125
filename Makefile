# Everyday tasks. CI runs .ci/run.
.PHONY: all fmt vet lint test bench peers fuzz

all: fmt vet test

fmt:
	gofmt -w .

vet:
	go vet ./...

# golangci-lint is not vendored: go install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@latest
lint:
	golangci-lint run ./...

test:
	go test ./...

bench:
	go test -run '^$$' -bench . -benchmem ./...

# kvhttp against net/http and fasthttp peers with wrk (about ten minutes).
peers:
	bench/run.sh

# An execution count: duration-based -fuzztime can fail spuriously in Go 1.26.
FUZZTIME ?= 3000000x
fuzz:
	for t in FuzzServerConn FuzzChunkedBody FuzzClientConn; do \
		go test -run '^$$' -fuzz "^$$t\$$" -fuzztime $(FUZZTIME) ./wire || exit 1; \
	done
