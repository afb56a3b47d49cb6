# The two commands a newcomer needs: `make run` and `make test`.
GO ?= go

.PHONY: run test build bench vet

run:
	$(GO) run ./cmd/parley serve

test:
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 15m ./...

build:
	$(GO) build -o parley ./cmd/parley

bench:
	bash bench/ingest.sh
