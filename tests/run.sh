#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run calls exactly this).
#
# Installs what the tests need on a fresh machine. Under CI=true a missing
# tool is a failure, never a skip.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\n== [%ds] %s\n' "$SECONDS" "$*" >&2; } # seconds since the start

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

# deb COMMAND PACKAGE: installs Debian's PACKAGE (as root, or with sudo)
# when COMMAND is missing; `need` then fails if it still is.
deb() {
  command -v "$1" >/dev/null 2>&1 && return 0
  log "installing Debian's $2 package ($1)"
  local sudo=()
  [[ $(id -u) -eq 0 ]] || { command -v sudo >/dev/null 2>&1 && sudo=(sudo); } || return 0
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$2"
}

# promtool (Debian's prometheus package) checks the metrics text and alert rules.
deb promtool prometheus
need promtool

# Headless Chromium (Debian's chromium package) loads the HTML report in
# tests/html.rs; the test starts it itself, off the network.
deb chromium chromium
need chromium
ROUTEWARDEN_CHROMIUM="$(command -v chromium)"
export ROUTEWARDEN_CHROMIUM

# The SARIF multitool validates SARIF with GitHub's rules (npm, under target/).
SARIF_DIR=target/sarif-multitool
SARIF_TOOL="$SARIF_DIR/node_modules/@microsoft/sarif-multitool-linux/Sarif.Multitool"
if [[ ! -x "$SARIF_TOOL" ]]; then
  log "installing @microsoft/sarif-multitool into $SARIF_DIR"
  need npm
  mkdir -p "$SARIF_DIR"
  (cd "$SARIF_DIR" && npm install --no-audit --no-fund --silent '@microsoft/sarif-multitool@5')
fi
[[ -x "$SARIF_TOOL" ]] || { echo "tests/run.sh: the SARIF multitool is missing after install" >&2; exit 1; }
export ROUTEWARDEN_SARIF_MULTITOOL="$PWD/$SARIF_TOOL"

# The infrastructure-as-code peers (the SAM translator and cfn-lint from PyPI,
# the AWS CDK from npm, under target/) and the test CDK app synthesised offline:
# exports ROUTEWARDEN_SAM_TRANSLATE, ROUTEWARDEN_CFN_LINT, ROUTEWARDEN_CDK_OUT.
source tests/iac/peers.sh

# Tests that build an AWS client never reach for instance metadata.
export AWS_EC2_METADATA_DISABLED=true

log "format"
cargo fmt --all -- --check

log "lint"
cargo clippy --locked --workspace --all-targets -- -D warnings

log "alert rules"
promtool check rules deploy/prometheus/rules.yml
promtool test rules deploy/prometheus/rules_test.yml

log "supply chain (cargo-deny: bans, licences, sources)"
if ! cargo deny --version >/dev/null 2>&1; then
  log "installing cargo-deny"
  cargo install --locked cargo-deny
fi
# cargo-deny reads the metadata of every package, those of other platforms
# too: fetch them first (a fresh machine's registry cache has only what the
# build needed). Advisories need a database this machine cannot fetch:
# docs/security.md.
cargo fetch --locked --quiet
cargo deny --offline --log-level error check bans licenses sources

log "layering (the core crate has no I/O or runtime dependency)"
bash tests/core_is_pure.sh

# The fuzz targets are their own package (cargo-fuzz's layout): check that
# they still build against the library, or a change of its API breaks them
# unseen.
log "fuzz targets build"
# In the workspace's target directory: the dependencies checked for clippy
# above are reused (about a minute instead of three on 2 cores).
(cd fuzz && CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/../target}" cargo check --locked --bins)

log "deployment (manifests, CRDs, checkov, hadolint)"
bash tests/deploy.sh

# After the deployment checks: their `cargo run` built the binary this uses.
log "CI integrations (actionlint, the Action's scripts, pre-commit hooks, docs/ci.md)"
bash tests/ci/check.sh

# The Dockerfile's final stage built with podman from a static binary built
# here, and run in a chroot of its root filesystem (tests/image/check.sh).
log "image (static binary, podman build, chroot run as 65532)"
bash tests/image/check.sh

log "IaC fixtures are valid CloudFormation (cfn-lint)"
bash tests/iac/lint_fixtures.sh

log "tests"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --locked --workspace --no-fail-fast --features test-intervals
else
  cargo test --locked --workspace --no-fail-fast --features test-intervals
fi

# The floors users' builds have (`interval` 10 s, `refresh` 5 min): the core's
# tests named `floors_*`, built without the `test-intervals` feature.
log "config floors as users' builds have them"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --locked -p routewarden-core -E 'test(/^config::tests::floors_/)'
else
  cargo test --locked -p routewarden-core floors_
fi
