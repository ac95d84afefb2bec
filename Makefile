# geoseek — the two commands a newcomer needs: `make run` and `make test`.
SHELL := /bin/bash
GO ?= go
BIN := bin/geoseek
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)

.PHONY: run test build setup bench load lint fuzz db-stop clean web

## run: install what is missing, start the private PostgreSQL, migrate, serve on 127.0.0.1:8080
run: setup build
	./$(BIN) serve

## test: the same set-up, then every test (real PostgreSQL + PostGIS)
test: setup web
	@ls /usr/share/postgresql/*/extension/vector.control >/dev/null 2>&1 || \
	  echo "SKIP: pgvector not installed: the vector tests skip themselves and print why (see README)"
	$(GO) test -count=1 -timeout 9m ./...

build: web
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/geoseek

setup:
	@./scripts/setup.sh

## web: build the map page's assets into web/dist (embedded by the binary); skipped without npm
web:
	@if command -v npm >/dev/null 2>&1; then \
	  cd web && { [ -d node_modules ] && [ node_modules/.package-lock.json -nt package-lock.json ] || npm ci --no-audit --no-fund; } && npm run build --silent; \
	else echo "web: npm not found: the map page's assets are not built (/map says how to build them)"; fi

## bench: load real data sizes and print one table (scenario, geoseek, baseline, ratio)
bench: setup web
	$(GO) run ./cmd/geoseek-bench $(BENCHFLAGS)

## load: a mixed workload (search, items, tiles, uploads) at 20 and 200 clients, 60 s each, on geoseek serve in its own process, /healthz probed beside a bare control server (LOADFLAGS=-duration 10s to shorten)
load: setup
	$(GO) run ./cmd/geoseek-load $(LOADFLAGS)

## lint: gofmt, go vet, staticcheck, the floors (internal/ imports no domain, only cmd/ imports cmd/)
FLOORS_UP := github.com/geoseek/geoseek/(search|geo|embed|ingest|document|cmd)(/| |$$)
lint:
	@up=$$($(GO) list -f '{{.ImportPath}}: {{join .Imports " "}} {{join .TestImports " "}} {{join .XTestImports " "}}' ./internal/... | grep -E ': .*$(FLOORS_UP)'); \
	  test -z "$$up" || (echo "internal/ imports a domain or cmd/:"; echo "$$up"; exit 1)
	@up=$$($(GO) list -f '{{.ImportPath}}: {{join .Imports " "}} {{join .TestImports " "}} {{join .XTestImports " "}}' $$($(GO) list ./... | grep -v '/cmd/') | grep -E ': .*github.com/geoseek/geoseek/cmd(/| |$$)'); \
	  test -z "$$up" || (echo "a package outside cmd/ imports cmd/:"; echo "$$up"; exit 1)
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); exit 1)
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

## fuzz: run every fuzz target for FUZZTIME each (default 20s)
FUZZTIME ?= 20s
fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 10x $$pkg || exit 1; \
	  done; \
	done

## db-stop: stop the private PostgreSQL cluster (it is left running for fast restarts)
db-stop: build
	./$(BIN) db stop

clean:
	rm -rf bin
