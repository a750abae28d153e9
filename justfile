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

# Set-up (Docker too), lints, dependency audit, Rust tests, fuzzing (corpus replay and a short run per
# target), conformance, static and end-to-end suites (both edges, browser tests included), the short
# soak test, the documentation build and its coverage test.
# Everything CI checks.
test: setup setup-docker lint audit test-rust test-fuzz test-conformance test-static test-e2e test-soak test-docs

# The stages of `just test`, each timed (reports/test-stages.txt).
test-stages:
    bash scripts/test-stages.sh

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

# Fuzzing: build every target of fuzz/ once, replay each committed corpus, fuzz each target SECONDS.
test-fuzz SECONDS="30": setup
    bash fuzz/run.sh test {{SECONDS}}

# Fuzz one target longer (`just fuzz id_remapping 600`); new inputs join its corpus (minimised after).
fuzz TARGET SECONDS="600": setup
    bash fuzz/run.sh run {{TARGET}} {{SECONDS}}

# Seed every fuzz corpus from real traffic (fuzz/seed.py) and minimise it (`cargo fuzz cmin`).
fuzz-seed: setup
    bash fuzz/run.sh seed

# The official MCP conformance suite against the sidecar.
test-conformance:
    bash scripts/conformance.sh

# Soak test: the native stack under mixed, checked load (legacy sessions with JSON and SSE answers,
# a standalone GET stream, resumption with Last-Event-ID, 2026-07-28 stateless requests) while
# faults are injected (kill -9 of an MCP server and of a sidecar, authd and Redis restarts, malformed
# requests); fails on a hung, wrong or duplicate answer, a client that does not recover, a process
# left over, or fds/RSS that grow. DURATION like 150s, 30m, 1h. Writes reports/soak.{json,md} and
# reports/soak-resources.csv.
soak DURATION="30m": setup
    python3 scripts/soak.py {{DURATION}} --report reports/soak

# The short soak test of `just test` (every fault at least once): reports/soak-short.*.
test-soak: setup
    python3 scripts/soak.py 150s --report reports/soak-short

# All benchmarks.
bench: bench-sidecar bench-eras bench-replicas bench-verify bench-connect

# `sidecar connect` against mcp-remote (pinned), same stdio workload and endpoint; writes reports/.
bench-connect: setup
    bash scripts/bench-connect.sh

# Sidecar against peer bridges and direct stdio; writes reports/.
bench-sidecar: setup
    bash scripts/bench-sidecar.sh

# The sidecar's instructions per request under callgrind (deterministic on a loaded machine): legacy
# session requests against stateless ones, same call; dumps in reports/callgrind/ for callgrind_annotate.
profile-sidecar: setup
    cargo build --profile profiling --quiet -p sidecar --bin sidecar
    python3 scripts/callgrind-sidecar.py

# Stateless (MCP 2026-07-28) requests against legacy sessions on the same sidecar, at steady state:
# each shape warms up 5 s, because a new sidecar's children (the one a session or a user takes, the
# warm pool's replacement, Node's JIT) are still settling after bench-sidecar's 1 s; median of 5
# rounds; writes reports/bench-eras.*.
bench-eras: setup
    BENCH_ROUNDS=5 BENCH_TARGETS=sidecar,sidecar-stateless BENCH_SHAPES=1x1,1x16,64x1 BENCH_WARMUP_SECS=5 BENCH_REPORT=bench-eras bash scripts/bench-sidecar.sh

# The cost of forwarding between sidecar replicas: calls served by the session's owner against calls
# forwarded by the other replica (CPU per request, p50/p99 at 1x1 and 16x4); writes reports/bench-replicas.*.
bench-replicas: setup
    BENCH_TARGETS=sidecar-owner,sidecar-forwarded BENCH_TOOLS=echo BENCH_SHAPES=1x1,16x4 BENCH_REPORT=bench-replicas bash scripts/bench-sidecar.sh

# authd /verify against the Python service it descends from; writes reports/.
bench-verify: setup
    bash scripts/bench-verify.sh

# ---------------------------------------------------------------------------------------------------
# The stack: native mode (`just run`) and docker compose (`just up`)
# ---------------------------------------------------------------------------------------------------
# Redis, development login, authd, one sidecar per compose/mcp-*.yml, Caddy on PUBLIC_URL; release
# build, .env created on first use (fresh secrets and development password), progress per service,
# login steps. Ctrl-C or `just stop` stops it; `just run --detach` runs it in the background.
# Start the gateway on this machine (`--detach`: in the background).
run *ARGS: setup
    @python3 scripts/run.py --release {{ARGS}}

# Each service of the running gateway: up or down, URL, health, open sessions (`--compose`: containers and certificates).
status *ARGS:
    @python3 scripts/ops.py status {{ARGS}}

# Check the prerequisites and .env of one path (native or compose) and say what to fix.
doctor MODE="native":
    @python3 scripts/doctor.py {{MODE}}

# Show and follow the logs of every service or one, e.g. `just logs authd` (`--no-follow`, `-n N`, `--compose`).
logs *ARGS:
    @python3 scripts/ops.py logs {{ARGS}}

# Stop the gateway `just run` started (in the background or in another terminal).
stop:
    @python3 scripts/ops.py stop

# Snapshot of Redis (clients, consents, refresh tokens) into FILE, default backups/redis-<UTC time>.rdb (`--compose`: the compose stack).
backup *ARGS:
    @python3 scripts/backup.py backup {{ARGS}}

# Replace Redis data by a snapshot (native: gateway stopped; the old data is moved aside, never deleted).
restore FILE *ARGS:
    @python3 scripts/backup.py restore {{FILE}} {{ARGS}}

# Docker where there is none (Debian, no systemd, no registry): engine, Compose v2, dockerd, base images.
setup-docker:
    bash scripts/setup-docker.sh

# Production stack (Docker, Traefik, Let's Encrypt): render, build, start; returns when all are healthy.
up:
    python3 scripts/composestack.py up

# `just up` plus a test ACME CA (Pebble; root at data/test-ca.pem), the development login, /etc/hosts names.
up-test: setup-docker
    python3 scripts/composestack.py up --test

# Stop the compose stack `just up` or `just up-test` started (volumes kept).
down:
    python3 scripts/composestack.py down

# Rebuild and restart one service, e.g. `just rebuild mcp-fetch`.
rebuild SERVICE:
    python3 scripts/composestack.py rebuild {{SERVICE}}

# Deploy to Docker Swarm (one-node swarm if none) as `just up-test` (MODE=production: Let's Encrypt), replicas from .env; returns when all are healthy.
stack-deploy MODE="test": setup-docker
    python3 scripts/swarm.py deploy {{ if MODE == "test" { "--test" } else if MODE == "production" { "" } else { error("MODE must be test or production") } }}

# Remove the Swarm stack `just stack-deploy` deployed (volumes kept).
stack-rm:
    python3 scripts/swarm.py rm

# Kubernetes manifests from the fragments and .env into data/k8s/gateway.yaml (holds secrets: mode 600).
render-k8s *ARGS:
    python3 scripts/k8s.py {{ARGS}}

# The external network Traefik and authd share.
network-create:
    docker network inspect "${EDGE_NETWORK:-mcp-edge}" >/dev/null 2>&1 || docker network create "${EDGE_NETWORK:-mcp-edge}"

# Render compose/generated/ (services, Traefik labels, authd.env) from the fragments (ROUTING from .env).
render:
    python3 scripts/gateway.py compose

# Print the edge route table both edges are generated from.
routes ROUTING="path":
    python3 scripts/gateway.py routes --routing {{ROUTING}}

# Write a fresh RSA signing key into .env (restart authd afterwards): a local authd, else the authd image.
generate-jwt-secret:
    python3 scripts/envfile.py generate-jwt-secret

# e.g. `just mint-token oidc:dev http://127.0.0.1:8080/time/mcp --name dev` (allow lists match id or --name).
# Mint an access token from the running `just run` stack.
mint-token USER RESOURCE *ARGS:
    python3 scripts/admin.py token mint --user {{USER}} --resource {{RESOURCE}} {{ARGS}}

# e.g. `TOKEN=$(just login http://127.0.0.1:8080/time/mcp --device)`: logs in as a user (in a
# browser, or with --device a code to enter on any device), keeps the tokens for the next time
# (sidecar connect's token file) and prints an access token on stdout, for scripts and CI.
# Print an access token for one MCP server of a gateway, logging in when needed.
login URL *ARGS: build
    @"$CARGO_TARGET_DIR/debug/sidecar" connect {{URL}} --print-token {{ARGS}}

# Any authd admin subcommand against the running `just run` stack, e.g. `just admin clients list`.
admin *ARGS:
    python3 scripts/admin.py {{ARGS}}

# Add an MCP server: `just new-server weather --runtime python --package mcp-weather --version 1.2.3 -- mcp-weather`.
new-server NAME *ARGS:
    python3 scripts/gateway.py new-server {{NAME}} {{ARGS}}

# Static checks of the stack configuration (compose schema, Traefik vs Caddy routes, caddy validate).
test-static: setup setup-docker
    pytest tests/static

# End-to-end suite through Caddy (native stack) and Traefik (`just up-test`, path and host routing),
# driven by the official MCP Python SDK; plus native HTTPS against a test ACME CA.
test-e2e: setup setup-docker build
    pytest tests/e2e


# The documentation site (Jupyter Book 1.0.x in .venv-docs, offline) into docs/_build/html; warnings are errors.
docs:
    bash scripts/docs.sh

# The docs build plus its test: every .env.example variable, just recipe, route and CLI subcommand documented.
test-docs: docs build
    pytest tests/docs

# Installs Debian's llvm-19 on first use for llvm-profdata and llvm-cov.
# Coverage of authd and sidecar from the running binaries in the end-to-end suite, native and in the
# compose stacks' containers (docker-compose.coverage.yml), merged into htmlcov/.
coverage: setup setup-docker
    bash scripts/coverage.sh
