# A thin layer over cargo and the scripts in scripts/. Each target says what CI runs.

CARGO ?= cargo
HUB   := $(CARGO) run -p hub-gateway --bin hub --

# Real services on loopback for the black-box tests (scripts/ensure-services.sh starts them).
HUB_TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/postgres
HUB_TEST_REDIS_URL    ?= redis://127.0.0.1:6379
# A second cluster on another loopback port, for tenants spread over clusters.
HUB_TEST_SECOND_DATABASE_URL ?= postgres://postgres@127.0.0.1:5433/postgres
export HUB_TEST_DATABASE_URL HUB_TEST_REDIS_URL HUB_TEST_SECOND_DATABASE_URL

.PHONY: run test spec lint fmt migrate promise-map services test-tools system-packages bench

## run: the gateway with the settings from the environment / hub.toml
run: system-packages
	$(HUB) serve

## test: install missing system libraries, start PostgreSQL and Redis, install the Python
## test tools, the loopback OIDC and SAML providers and the xAPI client (npm ci from their
## lock files), run
## every test (panics without backtraces, so a failing test's message ends CI's output)
test: system-packages services test-tools
	PATH="$(CURDIR)/.venv/bin:$$PATH" RUST_BACKTRACE=0 $(CARGO) test --workspace

## spec: regenerate the checked-in OpenAPI documents under openapi/
spec: system-packages
	$(CARGO) run -q -p hub-gateway --bin hub -- spec --out openapi

## lint: promise map, formatting and clippy with warnings as errors (clippy builds, so the
## system libraries come first)
lint: system-packages promise-map
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

## fmt: format the workspace
fmt:
	$(CARGO) fmt --all

## migrate: apply control-plane and tenant migrations to the configured database
migrate: system-packages
	$(HUB) migrate

## promise-map: docs/promise-map.md lists every promise, and its tests exist
promise-map:
	python3 scripts/check-promise-map.py

services:
	bash scripts/ensure-services.sh
	bash scripts/ensure-second-cluster.sh

test-tools:
	bash scripts/test-tools.sh
	bash scripts/ensure-idp.sh
	bash scripts/ensure-xapi-client.sh

## system-packages: the Debian libraries the build links against (libxmlsec1 for SAML)
system-packages:
	bash scripts/ensure-system-packages.sh

## bench: scale benchmarks (issue 3), privacy benchmarks (issue 10: export, erasure,
## retention sweep) and learning benchmarks (issue 11: xAPI ingest vs direct insert, statement
## reads, progress) and billing benchmarks (issue 12: Stripe webhook replay against localstripe,
## finance's history and CSV export) in release on loopback; writes BENCHMARKS.md and
## bench/out/results.json. BENCH_ONLY=privacy, learning, billing (or scale) runs one part alone:
## the privacy, learning or billing part alone replaces only its section of BENCHMARKS.md. BENCH_QUICK=1 for a few-minute smoke run, BENCH_SOAK_SECS=1800 for
## the 30-minute soak (see bench/run.sh for every setting).
bench:
	bash bench/run.sh
