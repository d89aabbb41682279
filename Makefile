# The two commands of the README: `make demo` and `make test`.
# Everything they need is installed here (Debian packages, Go tools).

GO          ?= go
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
GOBIN       := $(shell $(GO) env GOPATH)/bin
BINARY      := http-auth
VERSION     := $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT      := $(shell git rev-parse HEAD 2>/dev/null)
LDFLAGS     := -X main.version=$(VERSION) -X main.commit=$(COMMIT)

.PHONY: all build deps deps-ejabberd test test-ejabberd test-unit lint fuzz bench bench-profile bench-go demo clean install check-install

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
test: deps lint check-install
	$(GO) test -race -count=1 -timeout 20m ./...

# test-ejabberd runs the end-to-end suite against a real ejabberd (as a
# component and in client mode; TestEndToEndEjabberd) and ejabberdtest's
# own tests; make test runs them too. Two commands: -run would select no
# test in ./internal/ejabberdtest, whose test names do not say ejabberd.
test-ejabberd: deps
	$(GO) test -race -count=1 -run 'Ejabberd' .
	$(GO) test -race -count=1 ./internal/ejabberdtest

# fuzz runs each fuzz target for FUZZTIME (not part of make test).
FUZZTIME ?= 10m
fuzz:
	$(GO) test -run XXX -fuzz '^FuzzAnswer$$' -fuzztime $(FUZZTIME) ./component
	$(GO) test -run XXX -fuzz '^FuzzParseJID$$' -fuzztime $(FUZZTIME) ./auth
	$(GO) test -run XXX -fuzz '^FuzzParseParams$$' -fuzztime $(FUZZTIME) ./httpapi
	$(GO) test -run XXX -fuzz '^FuzzConfirmStanzas$$' -fuzztime $(FUZZTIME) ./component
	$(GO) test -run XXX -fuzz '^FuzzAPIKeyCheck$$' -fuzztime $(FUZZTIME) ./httpapi
	$(GO) test -run XXX -fuzz '^FuzzDecode$$' -fuzztime $(FUZZTIME) ./config
	$(GO) test -run XXX -fuzz '^FuzzLoad$$' -fuzztime $(FUZZTIME) ./i18n
	$(GO) test -run XXX -fuzz '^FuzzParser$$' -fuzztime $(FUZZTIME) ./i18n
	$(GO) test -run XXX -fuzz '^FuzzParseJIDFast$$' -fuzztime $(FUZZTIME) ./auth
	$(GO) test -run XXX -fuzz '^FuzzEscapedBodies$$' -fuzztime $(FUZZTIME) ./i18n
	$(GO) test -run XXX -fuzz '^FuzzSameParamsAsLegacy$$' -fuzztime $(FUZZTIME) ./httpapi
	$(GO) test -run XXX -fuzz '^FuzzWriteSameAsLegacy$$' -fuzztime $(FUZZTIME) ./httpapi
	$(GO) test -run XXX -fuzz '^FuzzDecodeStanza$$' -fuzztime $(FUZZTIME) ./component

# bench is the end-to-end benchmark of issue 5 (not part of make test): a
# throwaway Prosody, the http-auth binary as a separate process and Go XMPP
# clients that approve at once; it prints one table (docs/PERFORMANCE.md)
# in about two minutes. BENCHFLAGS passes flags (-duration, -levels, ...).
BENCHFLAGS ?=
bench: deps build
	$(GO) build -o bin/bench ./cmd/bench
	./bin/bench -gateway ./$(BINARY) $(BENCHFLAGS)

# bench-profile is make bench with the profiling build of the gateway
# (pprof.go, -tags pprof, bin/http-auth-pprof): CPU profiles of each
# gateway phase's measured window, heap profiles and runtime/metrics of the
# capacity phase, in bin/profiles (go tool pprof bin/http-auth-pprof FILE).
bench-profile: deps
	$(GO) build -trimpath -tags pprof -ldflags '$(LDFLAGS)' -o bin/http-auth-pprof .
	$(GO) build -o bin/bench ./cmd/bench
	./bin/bench -gateway bin/http-auth-pprof -profile bin/profiles $(BENCHFLAGS)

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
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) -count $(BENCHCOUNT) ./auth ./component ./httpapi > $(BENCHOUT) || { cat $(BENCHOUT); exit 1; }
	@test -x $(GOBIN)/benchstat || $(GO) install $(BENCHSTAT)
	$(GOBIN)/benchstat $(BENCHOUT)

# demo runs the real thing on loopback: a throwaway Prosody, the gateway,
# and a terminal client that approves or denies.
demo: deps build
	$(GO) build -o bin/demo-answer ./cmd/demo-answer
	$(GO) build -o bin/demo ./cmd/demo
	./bin/demo -gateway ./$(BINARY) -answer ./bin/demo-answer

# install puts the binary in $(PREFIX)/bin, the systemd unit in
# $(UNITDIR) (its ExecStart follows PREFIX), and the example httpAuth.conf
# and messages.toml in /etc/http-auth, under DESTDIR when set. An existing
# httpAuth.conf or messages.toml is kept: the new one is put beside it as
# .dist. The installed httpAuth.conf has no xmpp_secret line: the unit
# gives the secret from /etc/http-auth/secret (README, "Running it under
# systemd").
PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
SYSCONFDIR ?= /etc
UNITDIR    ?= $(SYSCONFDIR)/systemd/system
CONFDIR    := $(SYSCONFDIR)/http-auth
install: build
	install -d -m 0755 $(DESTDIR)$(BINDIR) $(DESTDIR)$(UNITDIR) $(DESTDIR)$(CONFDIR)
	install -m 0755 $(BINARY) $(DESTDIR)$(BINDIR)/http-auth
	sed -e 's|/usr/local/bin/http-auth|$(BINDIR)/http-auth|' -e 's|/etc/http-auth|$(CONFDIR)|g' \
		packaging/http-auth.service > $(DESTDIR)$(UNITDIR)/http-auth.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/http-auth.service
	sed -e 's|^xmpp_secret=CHANGE-ME$$|# (under systemd the secret comes from $(CONFDIR)/secret: see http-auth.service)|' \
		httpAuth.conf > $(BINARY).conf.tmp
	@for f in httpAuth.conf messages.toml; do \
		src=$$f; [ $$f = httpAuth.conf ] && src=$(BINARY).conf.tmp; \
		dst=$(DESTDIR)$(CONFDIR)/$$f; \
		if [ -e $$dst ]; then \
			echo "== keeping $$dst; the new one is $$f.dist"; dst=$$dst.dist; \
		fi; \
		install -m 0644 $$src $$dst || exit 1; \
	done
	rm -f $(BINARY).conf.tmp

# check-install runs make install into throwaway folders and checks the
# result (packaging/check-install.sh); systemd-analyze verify checks the
# unit when it is installed.
check-install: build
	MAKE='$(MAKE)' sh packaging/check-install.sh

clean:
	rm -f $(BINARY)
	rm -rf .demo
