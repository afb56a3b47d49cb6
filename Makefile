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
FUZZTIME ?= 5s
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzParseAddress$$' -fuzztime $(FUZZTIME) ./threading
	$(GO) test -run '^$$' -fuzz '^FuzzStripQuoted$$' -fuzztime $(FUZZTIME) ./threading
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./evidence
	$(GO) test -run '^$$' -fuzz '^FuzzAmount$$' -fuzztime $(FUZZTIME) ./notation
	$(GO) test -run '^$$' -fuzz '^FuzzCountTokens$$' -fuzztime $(FUZZTIME) ./intent
	$(GO) test -run '^$$' -fuzz '^FuzzClauses$$' -fuzztime $(FUZZTIME) ./intent
	$(GO) test -run '^$$' -fuzz '^FuzzTooComplex$$' -fuzztime $(FUZZTIME) ./evidence
	$(GO) test -run '^$$' -fuzz '^FuzzStrictScan$$' -fuzztime $(FUZZTIME) ./smtpd
	$(GO) test -run '^$$' -fuzz '^FuzzWordMatcher$$' -fuzztime $(FUZZTIME) ./procedure
	$(GO) test -run '^$$' -fuzz '^FuzzOrderRef$$' -fuzztime $(FUZZTIME) ./procedure
