# scimledger: `make help` lists the targets.

CARGO ?= cargo
SERVICES := scripts/with-test-services.sh

.DEFAULT_GOAL := help
.PHONY: help run build test lint fmt bench conformance

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "} {printf "  make %-12s %s\n", $$1, $$2}'

run: ## Start the server on the embedded default (SQLite file in ./data, http://127.0.0.1:8080)
	$(CARGO) run --release -p scimledger -- serve $(ARGS)

build: ## Build everything once (debug), tests included
	$(CARGO) build --workspace --all-targets

test: build ## Run every test against real PostgreSQL and NATS (started throwaway if none is running)
	$(SERVICES) $(CARGO) test --workspace --no-fail-fast

lint: ## Clippy (warnings are errors) and rustfmt check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) fmt --all -- --check

fmt: ## Format the code
	$(CARGO) fmt --all

bench: ## Measure import, look-ups, large groups and deep pages on both backends; writes docs/benchmarks.md
	scripts/bench.sh

conformance: ## Run the third-party SCIM conformance suites against both backends
	scripts/conformance.sh
