set dotenv-load := true

# Every task of the project. `just --list` shows them; README.md explains the two that matter:
# `just run` (the gateway on this machine) and `just test` (everything CI checks).

export CARGO_TARGET_DIR := env("CARGO_TARGET_DIR", justfile_directory() / "target")
export PATH := justfile_directory() / ".tools/bin" + ":" + justfile_directory() / ".venv/bin" + ":" + env("PATH")

default:
    @just --list

# Install everything the project needs on this machine (idempotent).
setup:
    bash scripts/setup.sh

# Debug build of both binaries.
build:
    cargo build --workspace --bins

# Release build of both binaries.
build-release:
    cargo build --workspace --bins --release

# Formatting and lints, as CI checks them.
lint:
    cargo fmt --all --check
    cargo clippy --workspace --all-targets -- -D warnings

# Everything CI checks: set-up, lints, dependency audit, Rust tests, conformance, static and
# end-to-end suites.
test: setup lint audit test-rust test-conformance test-static test-e2e

# Dependency audit: cargo deny (licences, duplicate versions, sources, RustSec advisories; a local
# snapshot of the advisory database with RUSTSEC_ADVISORY_DB=<bundle or clone>) and the Python/npm pins.
audit: setup
    bash scripts/audit.sh

# Rust unit and integration tests (real Redis, real MCP servers, real OpenID Connect provider).
test-rust:
    cargo nextest run --workspace --no-fail-fast

# The Rust suite RUST times and the end-to-end suite E2E times in a row (flaky tests show up here).
test-repeat RUST="20" E2E="5": setup build
    bash scripts/test-repeat.sh {{RUST}} {{E2E}}

# Live GitHub test (not part of `just test`): needs GITHUB_TEST_TOKEN, fails loudly without it.
test-github-live:
    test -n "${GITHUB_TEST_TOKEN:-}" || { echo "test-github-live: GITHUB_TEST_TOKEN is not set" >&2; exit 1; }
    cargo test -p authd --features github-live --test github_live

# The official MCP conformance suite against the sidecar.
test-conformance:
    bash scripts/conformance.sh

# All benchmarks.
bench: bench-sidecar bench-verify bench-connect

# `sidecar connect` against mcp-remote (pinned), same stdio workload and endpoint; writes reports/.
bench-connect: setup
    bash scripts/bench-connect.sh

# Sidecar against peer bridges and direct stdio; writes reports/.
bench-sidecar: setup
    bash scripts/bench-sidecar.sh

# authd /verify against the Python service it descends from; writes reports/.
bench-verify: setup
    bash scripts/bench-verify.sh

# ---------------------------------------------------------------------------------------------------
# The stack: native mode (`just run`) and docker compose (`just up`)
# ---------------------------------------------------------------------------------------------------
# Redis, development login, authd, one sidecar per compose/mcp-*.yml, Caddy on PUBLIC_URL.
# Start the gateway on this machine (creates .env on first use; Ctrl-C stops).
run: setup
    python scripts/run.py

# Production stack (Docker): render the fragments into compose/generated/, then build and start.
up: render network-create
    docker compose up -d --build

# Stop the production stack (volumes kept).
down:
    docker compose down

# Rebuild and restart one service, e.g. `just rebuild mcp-fetch`.
rebuild SERVICE: render
    docker compose up -d --build --force-recreate --no-deps {{SERVICE}}

# Follow the logs of one service, e.g. `just logs authd`.
logs SERVICE:
    docker compose logs -f {{SERVICE}}

# The external network Traefik and authd share.
network-create:
    docker network inspect "${EDGE_NETWORK:-mcp-edge}" >/dev/null 2>&1 || docker network create "${EDGE_NETWORK:-mcp-edge}"

# Render compose/generated/ (services, Traefik labels, authd.env) from the fragments (ROUTING from .env).
render:
    python scripts/gateway.py compose

# Print the edge route table both edges are generated from.
routes ROUTING="path":
    python scripts/gateway.py routes --routing {{ROUTING}}

# Write a fresh RSA signing key into .env (restart authd afterwards).
generate-jwt-secret: build
    python scripts/envfile.py generate-jwt-secret --authd "$CARGO_TARGET_DIR/debug/authd"

# e.g. `just mint-token oidc:dev http://127.0.0.1:8080/time/mcp --name dev` (allow lists match id or --name).
# Mint an access token from the running `just run` stack.
mint-token USER RESOURCE *ARGS:
    python scripts/admin.py token mint --user {{USER}} --resource {{RESOURCE}} {{ARGS}}

# e.g. `TOKEN=$(just login http://127.0.0.1:8080/time/mcp --device)`: logs in as a user (in a
# browser, or with --device a code to enter on any device), keeps the tokens for the next time
# (sidecar connect's token file) and prints an access token on stdout, for scripts and CI.
# Print an access token for one MCP server of a gateway, logging in when needed.
login URL *ARGS: build
    @"$CARGO_TARGET_DIR/debug/sidecar" connect {{URL}} --print-token {{ARGS}}

# Any authd admin subcommand against the running `just run` stack, e.g. `just admin clients list`.
admin *ARGS:
    python scripts/admin.py {{ARGS}}

# Add an MCP server: `just new-server weather --runtime python --package mcp-weather --version 1.2.3 -- mcp-weather`.
new-server NAME *ARGS:
    python scripts/gateway.py new-server {{NAME}} {{ARGS}}

# Static checks of the stack configuration (compose schema, Traefik vs Caddy routes, caddy validate).
test-static: setup
    pytest tests/static

# End-to-end suite: the native stack (own port and data dir) driven by the official MCP Python SDK.
test-e2e: setup build
    pytest tests/e2e


# Installs Debian's llvm-19 on first use for llvm-profdata and llvm-cov.
# Coverage of authd and sidecar from the running binaries in the end-to-end suite (htmlcov/).
coverage: setup
    bash scripts/coverage.sh
