# The two commands of the README: `make demo` and `make test`.
# Everything they need is installed here (Debian packages, Go tools).

GO          ?= go
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
GOBIN       := $(shell $(GO) env GOPATH)/bin
BINARY      := http-auth
VERSION     := $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS     := -X main.version=$(VERSION)

.PHONY: all build deps test test-unit lint fuzz demo clean

all: build

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BINARY) .

# deps installs Prosody (for the end-to-end tests and the demo) when it is
# missing, and the Go modules and tools.
deps:
	@if ! command -v prosody >/dev/null 2>&1 || ! command -v prosodyctl >/dev/null 2>&1; then \
		echo "== installing prosody (Debian packages)"; \
		apt-get update -q && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends prosody lua-unbound; \
	fi
	@command -v gcc >/dev/null 2>&1 || { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q gcc libc6-dev; }
	$(GO) mod download
	@test -x $(GOBIN)/staticcheck || $(GO) install $(STATICCHECK)

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

# demo runs the real thing on loopback: a throwaway Prosody, the gateway,
# and a terminal client that approves or denies.
demo: deps build
	$(GO) build -o bin/demo-answer ./cmd/demo-answer
	$(GO) build -o bin/demo ./cmd/demo
	./bin/demo -gateway ./$(BINARY) -answer ./bin/demo-answer

clean:
	rm -f $(BINARY)
	rm -rf .demo
