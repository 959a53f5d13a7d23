# Latchkey — the two commands are `make run` and `make test`.
GO        ?= go
BIN       ?= bin/latchkey
# Build tags of the binary (one home: internal/buildflags, which the e2e
# tests and cmd/loadgen build with; nomsgpack drops gin's unused MessagePack)
TAGS      ?= nomsgpack
export CGO_ENABLED = 1

.PHONY: run build test interop fuzz bench bench-keys bench-orgs fmt smoke clean

## run: build and serve on SQLite with ./config.yaml (data in ./data)
run: build
	./$(BIN) serve

## build: compile the latchkey binary into bin/
build:
	$(GO) build -tags $(TAGS) -o $(BIN) ./cmd/latchkey

## test: the whole suite (race detector on); PostgreSQL suites run when
## LATCHKEY_TEST_POSTGRES_DSN is set, and skip with a message otherwise
test:
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 15m ./...

## interop: the interoperability suite in interop/ (README "Works with"): the
## go-oidc test (also in `make test`), the openid-client suite (npm ci, then
## node --test; form_post in headless Chromium) and oauth2-proxy (built once
## into LATCHKEY_TEST_INTEROP_CACHE, default ~/.cache/latchkey-interop)
interop:
	LATCHKEY_TEST_INTEROP=1 $(GO) test -count=1 -v -timeout 20m ./interop/

## fuzz: run each fuzz target (package:Target) for FUZZTIME; their committed
## corpora (testdata/fuzz/) also run as ordinary tests in `make test`
FUZZTIME ?= 10s
FUZZ_TARGETS = keys:FuzzParse oauth:FuzzTokenEndpoint web:FuzzSafeNext api:FuzzAuthorization \
	api:FuzzDecodeJSON internal/textcheck:FuzzJSON scopeexpr:FuzzParse
fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t#*:}; \
		echo "fuzz $$name in ./$$pkg/ for $(FUZZTIME)"; \
		$(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) ./$$pkg/; \
	done

## bench: micro-benchmarks (keys=1000000 fills a 0.4 GB database first), then
## whole-server load on loopback on SQLite and, when LATCHKEY_TEST_POSTGRES_DSN
## is set, on PostgreSQL in a fresh schema (see BENCHMARKS.md; 3-5 minutes)
bench:
	$(GO) test -run '^$$' -bench . -benchtime 2s ./secret/ ./keys/ ./ratelimit/
	$(GO) run ./cmd/loadgen -duration 8s $(if $(LATCHKEY_TEST_POSTGRES_DSN),-postgres '$(LATCHKEY_TEST_POSTGRES_DSN)')

## bench-keys: whole-server key verification with 1,000 and 1,000,000 stored keys
bench-keys:
	$(GO) run ./cmd/loadgen -keys 1000,1000000 -scenarios healthz,users_me_key,tokens_generate $(if $(LATCHKEY_TEST_POSTGRES_DSN),-postgres '$(LATCHKEY_TEST_POSTGRES_DSN)')

## bench-orgs: key verification with 1,000,000 stored keys, once outside
## organizations and once bound to 1,000 organizations × 10 tenants (issue 14:
## resolving the owner's rights must keep verification flat)
bench-orgs:
	$(GO) run ./cmd/loadgen -keys 1000000 -scenarios healthz,users_me_key $(if $(LATCHKEY_TEST_POSTGRES_DSN),-postgres '$(LATCHKEY_TEST_POSTGRES_DSN)')
	$(GO) run ./cmd/loadgen -keys 1000000 -orgs 1000 -scenarios healthz,users_me_key $(if $(LATCHKEY_TEST_POSTGRES_DSN),-postgres '$(LATCHKEY_TEST_POSTGRES_DSN)')

## smoke: the operator contract check from ../shared/checks
smoke:
	@test -f ../shared/checks/contract-smoke.sh || { echo "../shared/checks/contract-smoke.sh not found" >&2; exit 1; }
	bash ../shared/checks/contract-smoke.sh

fmt:
	gofmt -w .

clean:
	rm -rf bin
