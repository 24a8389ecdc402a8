# engine: see README.md. `make run` starts the demo, `make test` runs the whole suite.
GO        ?= go
BIN       := bin
DRIVERS   := $(notdir $(wildcard examples/drivers/*))
SIMS      := $(notdir $(wildcard examples/sims/*))
GOBIN_DIR := $(shell $(GO) env GOPATH)/bin

.PHONY: help build run cluster test test-deps proto lint bench fuzz chaos clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  %-10s %s\n", $$1, $$2}'

build: ## build bin/engine, bin/drivers/* and bin/sims/*
	$(GO) build -ldflags "-X main.builtFrom=$(CURDIR)" -o $(BIN)/engine ./cmd/engine
	@for d in $(DRIVERS); do echo "$(GO) build -o $(BIN)/drivers/$$d ./examples/drivers/$$d"; $(GO) build -trimpath -o $(BIN)/drivers/$$d ./examples/drivers/$$d || exit 1; done
	@for s in $(SIMS); do echo "$(GO) build -o $(BIN)/sims/$$s ./examples/sims/$$s"; $(GO) build -o $(BIN)/sims/$$s ./examples/sims/$$s || exit 1; done

run: build ## start the demo: one node, embedded Redis, example drivers, simulated displays
	$(BIN)/engine dev

cluster: build ## a local 3-node cluster with Redis, simulated displays and the demo model
	scripts/cluster.sh

test: test-deps ## run the whole suite (real redis-server, real driver processes)
	$(GO) vet ./...
	@# Warm the build cache the way the engine's builder compiles drivers (CGO off, -trimpath: other
	@# cache keys than the tests' own builds). On a cold cache, tests in several packages would each
	@# compile the SDK's dependencies side by side and outlast their wait for a driver.
	CGO_ENABLED=0 $(GO) build -trimpath ./sdk/...
	$(GO) test -count=1 -timeout 12m ./...

test-deps: ## install redis-server, git and chromium when missing (needs root)
	@scripts/install-deps.sh

chaos: ## the full fault suite on a local 3-node cluster (a few minutes; CHAOS_ROUNDS=3)
	CHAOS=full $(GO) test ./scripts/chaos -run TestChaosFull -v -count=1 -timeout 20m

fuzz: ## run every fuzz target briefly (FUZZTIME=10s by default)
	scripts/fuzz.sh

proto: ## regenerate plugin/proto from driver.proto
	@command -v protoc >/dev/null || { echo "protoc missing: apt-get install -y protobuf-compiler"; exit 1; }
	GOFLAGS= $(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
	GOFLAGS= $(GO) install google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.2
	PATH="$(GOBIN_DIR):$$PATH" protoc --go_out=. --go_opt=paths=source_relative \
		--go-grpc_out=. --go-grpc_opt=paths=source_relative plugin/proto/driver.proto

lint: ## gofmt, go vet, staticcheck
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }
	$(GO) vet ./...
	GOFLAGS= $(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

bench: ## every benchmark side by side with its baseline; writes BENCHMARKS.md (about 3 minutes)
	scripts/bench.sh

clean: ## remove build output
	rm -rf $(BIN)
