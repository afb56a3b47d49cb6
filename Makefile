# The two commands a newcomer needs: `make run` and `make test`.
GO ?= go

.PHONY: run test build bench fuzz

# make run ARGS="--config parley.toml" passes flags to serve.
run:
	$(GO) run ./cmd/parley serve $(ARGS)

test:
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 15m ./...

build:
	$(GO) build -o parley ./cmd/parley

bench:
	bash bench/ingest.sh

# Each fuzz target briefly; the seed corpora also run in every `make test`.
# Budgets are counts of executions, sized to a few seconds each on a 2-core
# machine, not durations: with -fuzztime 5s, Go 1.26's coordinator can fail a
# target with a bare "context deadline exceeded" at the deadline, no crasher
# written (go.dev/issue/75804, fixed in Go 1.27). FUZZX multiplies every
# budget (make fuzz FUZZX=20 for a longer run). Minimising a new input is
# bounded in executions too: an input that costs milliseconds stalled the
# fuzzer for the default 60 s.
FUZZX ?= 1
fuzz1 = $(GO) test -run '^$$' -fuzz '^$(1)$$' -fuzztime $$(($(2) * $(FUZZX)))x -fuzzminimizetime 100x $(3)
fuzz:
	$(call fuzz1,FuzzParseAddress,60000,./threading)
	$(call fuzz1,FuzzStripQuoted,40000,./threading)
	$(call fuzz1,FuzzParse,15000,./evidence)
	$(call fuzz1,FuzzAmount,80000,./notation)
	$(call fuzz1,FuzzCountTokens,15000,./intent)
	$(call fuzz1,FuzzClauses,30000,./intent)
	$(call fuzz1,FuzzTooComplex,1000,./evidence)
	$(call fuzz1,FuzzStrictScan,15000,./smtpd)
	$(call fuzz1,FuzzWordMatcher,2000,./procedure)
	$(call fuzz1,FuzzOrderRef,3000,./procedure)
