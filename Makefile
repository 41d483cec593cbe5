# scimledger: `make help` lists the targets.

CARGO ?= cargo
SERVICES := scripts/with-test-services.sh

.DEFAULT_GOAL := help
FUZZ_SMOKE_SECONDS ?= 8
FUZZ_SECONDS ?= 600

.PHONY: help run build test difftest lint fmt fuzz bench conformance scale-test

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "} {printf "  make %-12s %s\n", $$1, $$2}'

run: ## Start the server on the embedded default (SQLite file in ./data, http://127.0.0.1:8080)
	$(CARGO) run --release -p scimledger -- serve $(ARGS)

build: ## Build everything once (debug), tests included
	$(CARGO) build --workspace --all-targets

test: build ## Run every test against real PostgreSQL and NATS (started throwaway if none is running) and headless Chromium, the scale-out test, then fuzz each target briefly
	$(SERVICES) $(CARGO) test --workspace --no-fail-fast
	$(SERVICES) $(CARGO) test -p scimledger-e2e --test scale_out -- --ignored
	scripts/fuzz.sh $(FUZZ_SMOKE_SECONDS)

difftest: ## Long differential run: evaluator, PostgreSQL and SQLite on generated users, filters and sorts (ROUNDS, CASES, SEED)
	SCIMLEDGER_DIFFTEST_ROUNDS=$(or $(ROUNDS),40) SCIMLEDGER_DIFFTEST_CASES=$(or $(CASES),1000) SCIMLEDGER_DIFFTEST_SEED=$(or $(SEED),$$(date +%s)) \
		$(SERVICES) $(CARGO) test -p store --test differential -- --nocapture

lint: ## Clippy (warnings are errors) and rustfmt check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) fmt --all -- --check
	$(CARGO) fmt --manifest-path fuzz/Cargo.toml -- --check

fmt: ## Format the code
	$(CARGO) fmt --all
	$(CARGO) fmt --manifest-path fuzz/Cargo.toml

fuzz: ## Fuzz the filter parser, PATCH path parser and PATCH engine (FUZZ_SECONDS each, default 600)
	scripts/fuzz.sh $(FUZZ_SECONDS)

bench: ## Measure import, look-ups, large groups, deep pages and the audit on both backends; writes docs/benchmarks.md
	scripts/bench.sh

scale-test: build ## Two API processes, two relays, a 3-node NATS cluster; kill -9 during a load (SCIMLEDGER_SCALE_USERS, default 10000)
	$(SERVICES) $(CARGO) test -p scimledger-e2e --test scale_out -- --ignored --nocapture

conformance: ## Run the third-party SCIM conformance suites against both backends
	scripts/conformance.sh
