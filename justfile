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

# The whole test suite: set-up, lints, Rust tests, the MCP conformance suite.
test: setup lint test-rust test-conformance

# Rust unit and integration tests (real Redis, real MCP servers, real OpenID Connect provider).
test-rust:
    cargo nextest run --workspace --no-fail-fast

# The official MCP conformance suite against the sidecar.
test-conformance:
    bash scripts/conformance.sh

# Start the gateway locally.
run: setup
    bash scripts/run.sh

# All benchmarks.
bench: bench-sidecar bench-verify

# Sidecar against peer bridges and direct stdio; writes reports/.
bench-sidecar: setup
    bash scripts/bench-sidecar.sh

# authd /verify against the Python service it descends from; writes reports/.
bench-verify: setup
    bash scripts/bench-verify.sh
