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

# moto's server, the AWS peer of the live-source tests, in a venv under target/.
MOTO_VENV=target/moto-venv
if [[ ! -x "$MOTO_VENV/bin/moto_server" ]]; then
  log "installing moto[server] into $MOTO_VENV"
  need python3
  python3 -m venv "$MOTO_VENV"
  "$MOTO_VENV/bin/pip" install --quiet --disable-pip-version-check 'moto[server]>=5,<6'
fi
[[ -x "$MOTO_VENV/bin/moto_server" ]] || { echo "tests/run.sh: moto_server missing after install" >&2; exit 1; }
export ROUTEWARDEN_MOTO_SERVER="$PWD/$MOTO_VENV/bin/moto_server"

# Tests that build an AWS client never reach for instance metadata.
export AWS_EC2_METADATA_DISABLED=true

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
