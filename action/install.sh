#!/usr/bin/env bash
# Installs routewarden for action.yml: a released static binary (Linux x86_64
# or aarch64, checked against its .sha256), or a build from the action's own
# checkout with cargo. Puts it on PATH for later steps and sets the step
# outputs `path` and `version`.
#
# Inputs (environment): RW_VERSION (a version, `latest`, `build`, or empty:
# the action's own tag when it is one, else `latest`), RW_REPOSITORY (empty:
# the action's repository), RW_ACTION_REPOSITORY, RW_ACTION_REF, and the
# runner's RUNNER_TEMP, RUNNER_OS, RUNNER_ARCH, GITHUB_SERVER_URL,
# GITHUB_REPOSITORY, GITHUB_ACTION_PATH, GITHUB_OUTPUT, GITHUB_PATH.
#
# Release assets, as .github/workflows/release.yml names them:
#   $GITHUB_SERVER_URL/OWNER/NAME/releases/download/vX.Y.Z/routewarden-TARGET
#   $GITHUB_SERVER_URL/OWNER/NAME/releases/download/vX.Y.Z/routewarden-TARGET.sha256
# (`latest`: .../releases/latest/download/routewarden-TARGET).
set -euo pipefail

fail() {
  echo "::error title=routewarden install::$*"
  exit 1
}

root="${RUNNER_TEMP:?RUNNER_TEMP is not set}/routewarden"
mkdir -p "$root/bin"

version="${RW_VERSION:-}"
if [[ -z "$version" ]]; then
  # Used as owner/routewarden@v0.2.0: install the binary of that release, so
  # that the action and the binary it runs come from one tag.
  if [[ "${RW_ACTION_REF:-}" =~ ^v[0-9]+\.[0-9]+\.[0-9]+ ]]; then
    version="$RW_ACTION_REF"
  else
    version=latest
  fi
fi

if [[ "$version" == build ]]; then
  command -v cargo >/dev/null 2>&1 || fail "version: build needs cargo on the runner (a Rust toolchain, 1.94.1 or newer)"
  src="${GITHUB_ACTION_PATH:?GITHUB_ACTION_PATH is not set}"
  echo "building routewarden from $src with cargo"
  cargo install --locked --path "$src" --root "$root" --bin routewarden
  bin="$root/bin/routewarden"
else
  case "${RUNNER_OS:-}/${RUNNER_ARCH:-}" in
    Linux/X64) target=x86_64-unknown-linux-gnu ;;
    Linux/ARM64) target=aarch64-unknown-linux-gnu ;;
    *) fail "no released binary for ${RUNNER_OS:-?} ${RUNNER_ARCH:-?} (Linux x86_64 and aarch64 only): use version: build" ;;
  esac
  repo="${RW_REPOSITORY:-${RW_ACTION_REPOSITORY:-${GITHUB_REPOSITORY:-}}}"
  [[ "$repo" == */* ]] || fail "cannot tell which repository's releases to download from: set the input repository (owner/name)"
  server="${GITHUB_SERVER_URL:-https://github.com}"
  asset="routewarden-$target"
  if [[ "$version" == latest ]]; then
    url="$server/$repo/releases/latest/download/$asset"
  else
    [[ "$version" =~ ^v?[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.+-]+)?$ ]] \
      || fail "version must be a release (0.2.0 or v0.2.0), latest or build, not '$version'"
    url="$server/$repo/releases/download/v${version#v}/$asset"
  fi
  bin="$root/bin/routewarden"
  echo "downloading $url"
  curl -fsSL --retry 3 --proto-redir '=https' -o "$bin.download" "$url" || fail "could not download $url"
  curl -fsSL --retry 3 --proto-redir '=https' -o "$bin.sha256" "$url.sha256" || fail "could not download $url.sha256"
  expected="$(awk 'NR == 1 { print $1 }' "$bin.sha256")"
  actual="$(sha256sum "$bin.download" | awk '{ print $1 }')"
  [[ "$expected" =~ ^[0-9a-f]{64}$ ]] || fail "$url.sha256 holds no SHA-256 checksum"
  [[ "$actual" == "$expected" ]] || fail "checksum mismatch for $url: got $actual, the release says $expected"
  rm -f "$bin.sha256"
  chmod +x "$bin.download"
  mv "$bin.download" "$bin"
fi

installed="$("$bin" --version)" || fail "$bin does not run"
echo "$installed"
echo "$root/bin" >> "${GITHUB_PATH:-/dev/null}"
{
  echo "path=$bin"
  echo "version=${installed#routewarden }"
} >> "${GITHUB_OUTPUT:-/dev/null}"
