#!/usr/bin/env bash
# `just audit`: what the gateway is built from, checked.
# - Rust: `cargo deny check` (deny.toml): licences, bans (duplicate versions removed or explained),
#   sources (crates.io only) and RustSec advisories. The advisory database is fetched by cargo deny
#   itself (from GitHub) unless RUSTSEC_ADVISORY_DB names a local snapshot (a git bundle or clone of
#   https://github.com/rustsec/advisory-db), which is then used offline; its date is printed, since a
#   snapshot only knows the advisories published before it was taken.
# - Python and npm: every package the stack and the tests install is pinned to an exact version,
#   transitive ones included (tests/requirements.txt + tests/constraints.txt; tests/package-lock.json
#   with integrity hashes, installed by `npm ci`), checked by tests/static/test_pins.py.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'audit: %s\n' "$*"; }

offline=()
if [ -n "${RUSTSEC_ADVISORY_DB:-}" ]; then
  # cargo deny keeps each database in <db-path>/<name>-<hash of its URL>; this is the default URL's.
  db="${CARGO_HOME:-$HOME/.cargo}/advisory-dbs/advisory-db-3157b0e258782691"
  rm -rf "$db"
  git clone --quiet --branch main "$RUSTSEC_ADVISORY_DB" "$db"
  say "RustSec advisory database: snapshot $(git -C "$db" rev-parse --short HEAD) of $(git -C "$db" log -1 --format=%cI) ($RUSTSEC_ADVISORY_DB)"
  offline=(--offline)
  # Offline also means `cargo metadata` without the network: every crate of the lock file (all
  # platforms) must be in the local registry cache first.
  cargo fetch --locked --quiet
fi
cargo deny "${offline[@]}" --all-features check
say "Python and npm pins"
pytest -q tests/static/test_pins.py
