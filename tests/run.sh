#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run calls exactly this).
#
# Installs what the tests need on a fresh machine. Under CI=true a missing
# tool is a failure, never a skip.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\n== %s\n' "$*" >&2; }

need() { # need TOOL: fail if TOOL is missing
  command -v "$1" >/dev/null 2>&1 && return 0
  echo "tests/run.sh: $1 is required but missing" >&2
  exit 1
}

need cargo
if ! cargo nextest --version >/dev/null 2>&1; then
  if [[ "${CI:-}" == "true" ]]; then
    log "installing cargo-nextest"
    cargo install --locked cargo-nextest
  fi
fi

log "format"
cargo fmt --all -- --check

log "lint"
cargo clippy --locked --all-targets -- -D warnings

log "tests"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --locked --no-fail-fast
else
  cargo test --locked --no-fail-fast
fi
