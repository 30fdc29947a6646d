# rsyncd-go: build, test and lint. `make test` works on a fresh Debian
# machine: it installs what the tests need when it is missing.

GO ?= go
STATICCHECK_VERSION := v0.8.2
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: all build test deps lint fuzz-short run deb deb-check

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

# The Debian package, with Go tools only: a static binary stamped with
# `git describe`, its man pages from the cobra command tree, and nfpm at a
# pinned version (go run pkg@version leaves go.mod alone). nfpm v2.46 and
# later depend on modules the Go module proxy does not serve.
NFPM_VERSION := v2.45.2
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
DEB_VERSION := $(shell sh packaging/deb-version '$(VERSION)')
# Dates in the man pages and the package: the last commit's, for
# reproducible builds.
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)

deb:
	rm -rf dist/pkg
	mkdir -p dist/pkg/man
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w -X main.version=$(VERSION)" -o dist/pkg/rsyncd-go ./cmd/rsyncd-go
	SOURCE_DATE_EPOCH=$(SOURCE_DATE_EPOCH) dist/pkg/rsyncd-go man dist/pkg/man
	gzip -9n dist/pkg/man/*.1
	rm -f dist/rsyncd-go_*.deb
	VERSION='$(DEB_VERSION)' SOURCE_DATE_EPOCH=$(SOURCE_DATE_EPOCH) $(GO) run github.com/goreleaser/nfpm/v2/cmd/nfpm@$(NFPM_VERSION) package -p deb -f packaging/nfpm.yaml -t dist/

# The package's contents and modes, and systemd-analyze verify of its units.
deb-check: deps deb
	bash packaging/check-deb dist/rsyncd-go_*.deb
