# The two commands of the README: `make demo` and `make test`.
# Everything they need is installed here (Debian packages, Go tools).

GO          ?= go
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
GOBIN       := $(shell $(GO) env GOPATH)/bin
BINARY      := http-auth
VERSION     := $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS     := -X main.version=$(VERSION)

.PHONY: all build deps deps-ejabberd test test-unit lint fuzz bench bench-go demo clean

all: build

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BINARY) .

# deps installs the XMPP servers the tests and the demo run (Prosody and
# ejabberd, from Debian) when they are missing, gcc for -race, and the Go
# modules and tools.
deps:
	@pkgs=""; \
	command -v prosody >/dev/null 2>&1 && command -v prosodyctl >/dev/null 2>&1 || pkgs="$$pkgs prosody lua-unbound"; \
	command -v ejabberdctl >/dev/null 2>&1 || test -x /usr/sbin/ejabberdctl || pkgs="$$pkgs ejabberd"; \
	command -v gcc >/dev/null 2>&1 || pkgs="$$pkgs gcc libc6-dev"; \
	if [ -n "$$pkgs" ]; then \
		echo "== installing$$pkgs (Debian packages)"; \
		apt-get update -q && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$pkgs; \
	fi
	$(GO) mod download
	@test -x $(GOBIN)/staticcheck || $(GO) install $(STATICCHECK)

# deps-ejabberd installs ejabberd alone (deps installs it too).
deps-ejabberd:
	@if ! command -v ejabberdctl >/dev/null 2>&1 && ! test -x /usr/sbin/ejabberdctl; then \
		echo "== installing ejabberd (Debian package)"; \
		apt-get update -q && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends ejabberd; \
	fi

lint: deps
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	# copylocks trips on gosrc.io/xmpp's own types; every other check stays on.
	$(GO) vet -copylocks=false ./...
	$(GOBIN)/staticcheck ./...

# test runs every test with the race detector, the end-to-end tests
# against a real Prosody (started by the tests themselves) included, and
# the fuzz targets' seed corpora.
test: deps lint
	$(GO) test -race -count=1 -timeout 20m ./...

# fuzz runs each fuzz target for FUZZTIME (not part of make test).
FUZZTIME ?= 10m
fuzz:
	$(GO) test -run XXX -fuzz '^FuzzAnswer$$' -fuzztime $(FUZZTIME) ./component
	$(GO) test -run XXX -fuzz '^FuzzParseJID$$' -fuzztime $(FUZZTIME) ./auth
	$(GO) test -run XXX -fuzz '^FuzzParseParams$$' -fuzztime $(FUZZTIME) ./httpapi

# bench is the end-to-end benchmark of issue 5 (not part of make test): a
# throwaway Prosody, the http-auth binary as a separate process and Go XMPP
# clients that approve at once; it prints one table (docs/PERFORMANCE.md)
# in about two minutes. BENCHFLAGS passes flags (-duration, -levels, ...).
BENCHFLAGS ?=
bench: deps build
	$(GO) build -o bin/bench ./cmd/bench
	./bin/bench -gateway ./$(BINARY) $(BENCHFLAGS)

# bench-go runs the Go benchmarks of the hot paths (component, httpapi)
# BENCHCOUNT times into BENCHOUT, then summarises them with benchstat
# (pinned). Compare two runs: benchstat old.txt new.txt.
BENCHCOUNT ?= 6
BENCHTIME  ?= 1s
BENCHOUT   ?= bin/bench-go.txt
BENCHSTAT  := golang.org/x/perf/cmd/benchstat@v0.0.0-20250813145418-2f7363a06fe1
bench-go:
	@mkdir -p $(dir $(BENCHOUT))
	@echo "== go test -bench into $(BENCHOUT) (a few minutes)"
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) -count $(BENCHCOUNT) ./component ./httpapi > $(BENCHOUT) || { cat $(BENCHOUT); exit 1; }
	@test -x $(GOBIN)/benchstat || $(GO) install $(BENCHSTAT)
	$(GOBIN)/benchstat $(BENCHOUT)

# demo runs the real thing on loopback: a throwaway Prosody, the gateway,
# and a terminal client that approves or denies.
demo: deps build
	$(GO) build -o bin/demo-answer ./cmd/demo-answer
	$(GO) build -o bin/demo ./cmd/demo
	./bin/demo -gateway ./$(BINARY) -answer ./bin/demo-answer

clean:
	rm -f $(BINARY)
	rm -rf .demo
