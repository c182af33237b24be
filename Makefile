# secylab — build, test, benchmark, fuzz, lint.
GO        ?= go
PKGS      ?= ./...
FUZZTIME  ?= 15s
# How long the fuzzer may minimize each input that finds new coverage or a
# crash (go test's default is 60 s, spent in runs the exec count leaves out:
# a young corpus made a 60 s run nearly all minimization).
FUZZMINIMIZETIME ?= 3s
BENCHTIME ?= 1s
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -X github.com/secylab/secylab/internal/version.Version=$(VERSION)

.PHONY: all build lab test test-short layering bench bench-suites bench-lab fuzz lint clean

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/secylab ./cmd/secylab

# The main job (root): the flagship exercise on the built-in ExpressRoute
# Direct lab — a CAK rotation done naively and the recommended way, measured;
# reports under secylab-reports/.
lab: build
	bin/secylab lab run

# Everything, root tests included (they skip, saying so, when not root).
test:
	$(GO) vet $(PKGS)
	$(GO) test -race -count=1 -timeout 30m $(PKGS)

# The dependency direction of DESIGN §3 (from go list -deps) and the pure
# packages built for darwin; part of test too.
layering:
	$(GO) test -count=1 ./internal/layering

test-short:
	$(GO) test -short -count=1 $(PKGS)

# Hot-path benchmarks; every benchmark reports allocations.
bench:
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) $(PKGS)

# The secylab bench commands: SecY throughput per suite, and TCP through a
# lab link (root and iperf3).
bench-suites: build
	bin/secylab bench suites

bench-lab: build
	bin/secylab bench lab

# A short run of every fuzz target (go test -fuzz takes one target at a
# time), with the execs of each: .ci/fuzz.
fuzz:
	GO=$(GO) FUZZTIME=$(FUZZTIME) FUZZMINIMIZETIME=$(FUZZMINIMIZETIME) .ci/fuzz $(PKGS)

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo 'gofmt: files above need formatting'; exit 1; }
	$(GO) vet $(PKGS)
	$(GO) run $(STATICCHECK) $(PKGS)

clean:
	rm -rf bin
