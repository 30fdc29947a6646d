# rsyncd-go: build, test and lint. `make test` works on a fresh Debian
# machine: it installs what the tests need when it is missing.

GO ?= go
STATICCHECK_VERSION := v0.8.2
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: all build test deps lint fuzz-short run

all: build

build:
	$(GO) build ./...

# The end-to-end tests drive Debian's stock rsync client and daemon, and
# systemd-socket-activate.
deps:
	@command -v rsync >/dev/null 2>&1 && command -v systemd-socket-activate >/dev/null 2>&1 || { \
		echo "installing Debian's rsync and systemd packages (tests drive the stock client, daemon and systemd-socket-activate)"; \
		$(SUDO) apt-get update -qq && $(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rsync systemd; }

test: deps
	$(GO) test -count=1 -timeout 20m ./...

lint:
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }

# Every fuzz target for FUZZTIME each (CI runs this); a finding fails the
# run and leaves its input under the package's testdata/fuzz.
FUZZTIME ?= 4s
fuzz-short:
	FUZZTIME=$(FUZZTIME) bash .ci/fuzz-short

run:
	$(GO) run ./cmd/rsyncd-go
