# The infrastructure-as-code peers, sourced by tests/run.sh (from the
# repository's root) after the other tools are installed:
#
#   - AWS's SAM translator and cfn-lint (PyPI) in the venv target/iac-venv;
#   - the AWS CDK library and CLI (npm) in target/cdk;
#   - the test CDK app (tests/iac/cdk-app) synthesised offline into
#     target/cdk-out-test/cdk.out.
#
# Installs are skipped when done already (a stamp records what was asked for,
# so changing a pin reinstalls); a failed install fails the run, CI or not.
# Exports:
#   ROUTEWARDEN_SAM_TRANSLATE  executable: sam-translate IN.yaml OUT.json
#   ROUTEWARDEN_CFN_LINT       the venv's cfn-lint
#   ROUTEWARDEN_CDK_OUT        the test app's cdk.out directory
#
# It can also run alone: `bash tests/iac/peers.sh` (installs and synthesises,
# exports nothing to the caller).

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  set -euo pipefail
  cd "$(dirname "$0")/../.."
fi

iac_fail() {
  echo "tests/iac/peers.sh: $*" >&2
  exit 1
}

iac_log() { printf '\n== %s\n' "$*" >&2; }

# --- SAM translator and cfn-lint (PyPI) --------------------------------------
IAC_VENV=target/iac-venv
IAC_PIP_REQS=('aws-sam-translator>=1.100,<2' 'cfn-lint>=1,<2')
IAC_PIP_STAMP="$IAC_VENV/.routewarden-installed"
if [[ ! -x "$IAC_VENV/bin/cfn-lint" || ! -f "$IAC_PIP_STAMP" \
      || "$(cat "$IAC_PIP_STAMP")" != "${IAC_PIP_REQS[*]}" ]]; then
  iac_log "installing ${IAC_PIP_REQS[*]} into $IAC_VENV"
  command -v python3 >/dev/null 2>&1 || iac_fail "python3 is required to install the SAM translator and cfn-lint"
  rm -rf "$IAC_VENV"
  python3 -m venv "$IAC_VENV" || iac_fail "could not create the venv $IAC_VENV"
  "$IAC_VENV/bin/pip" install --quiet --disable-pip-version-check "${IAC_PIP_REQS[@]}" \
    || iac_fail "installing ${IAC_PIP_REQS[*]} failed"
  printf '%s' "${IAC_PIP_REQS[*]}" > "$IAC_PIP_STAMP"
fi
[[ -x "$IAC_VENV/bin/cfn-lint" ]] || iac_fail "cfn-lint is missing from $IAC_VENV after install"
"$IAC_VENV/bin/python" -c 'import samtranslator.translator.translator' \
  || iac_fail "the SAM translator does not import in $IAC_VENV"

# The translator as one executable (tests/iac/sam_translate.py in the venv).
IAC_SAM_TRANSLATE="$IAC_VENV/bin/sam-translate"
cat > "$IAC_SAM_TRANSLATE.tmp" <<EOF
#!/bin/sh
# sam-translate IN.yaml OUT.json: SAM to CloudFormation, offline (written by tests/iac/peers.sh).
exec "$PWD/$IAC_VENV/bin/python" "$PWD/tests/iac/sam_translate.py" "\$@"
EOF
chmod +x "$IAC_SAM_TRANSLATE.tmp" && mv "$IAC_SAM_TRANSLATE.tmp" "$IAC_SAM_TRANSLATE"
export ROUTEWARDEN_SAM_TRANSLATE="$PWD/$IAC_SAM_TRANSLATE"
export ROUTEWARDEN_CFN_LINT="$PWD/$IAC_VENV/bin/cfn-lint"

# --- AWS CDK (npm) -------------------------------------------------------------
# aws-cdk@2 is the CLI line that synthesises aws-cdk-lib 2.x apps (CLI 2.1xxx,
# released apart from the library since 2025); npm also lists a 3.0.0 marked
# deprecated.
IAC_CDK=target/cdk
IAC_NPM_PKGS=('aws-cdk-lib@2' 'constructs@10' 'aws-cdk@2')
IAC_NPM_STAMP="$IAC_CDK/.routewarden-installed"
if [[ ! -x "$IAC_CDK/node_modules/.bin/cdk" || ! -f "$IAC_CDK/node_modules/aws-cdk-lib/package.json" \
      || ! -f "$IAC_CDK/node_modules/constructs/package.json" || ! -f "$IAC_NPM_STAMP" \
      || "$(cat "$IAC_NPM_STAMP")" != "${IAC_NPM_PKGS[*]}" ]]; then
  iac_log "installing ${IAC_NPM_PKGS[*]} into $IAC_CDK"
  command -v npm >/dev/null 2>&1 || iac_fail "npm is required to install the AWS CDK"
  rm -rf "$IAC_CDK" && mkdir -p "$IAC_CDK"
  (cd "$IAC_CDK" && npm init -y >/dev/null && npm install --no-audit --no-fund --loglevel=error "${IAC_NPM_PKGS[@]}") \
    || iac_fail "installing ${IAC_NPM_PKGS[*]} failed"
  printf '%s' "${IAC_NPM_PKGS[*]}" > "$IAC_NPM_STAMP"
fi
[[ -x "$IAC_CDK/node_modules/.bin/cdk" ]] || iac_fail "the cdk CLI is missing from $IAC_CDK after install"

# --- the test CDK app, synthesised offline ------------------------------------
# Environment-agnostic stacks, no lookups, no version check, notices or
# telemetry, and no credentials or instance metadata for the CLI to try: it
# reaches nothing. Synthesised again when the app, this script or the CDK
# install is newer than the last output (it takes 5 to 20 s here).
IAC_CDK_OUT_PARENT=target/cdk-out-test
IAC_CDK_OUT="$IAC_CDK_OUT_PARENT/cdk.out"
if [[ ! -f "$IAC_CDK_OUT/manifest.json" \
      || -n "$(find tests/iac/cdk-app tests/iac/peers.sh "$IAC_NPM_STAMP" -newer "$IAC_CDK_OUT/manifest.json" -print -quit)" ]]; then
  iac_log "CDK synth of tests/iac/cdk-app into $IAC_CDK_OUT"
  IAC_ROOT="$PWD"
  rm -rf "$IAC_CDK_OUT" && mkdir -p "$IAC_CDK_OUT_PARENT"
  (
    cd "$IAC_CDK_OUT_PARENT" &&
    env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -u AWS_SESSION_TOKEN \
        -u AWS_PROFILE -u AWS_DEFAULT_PROFILE -u AWS_ENDPOINT_URL \
        AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null \
        AWS_EC2_METADATA_DISABLED=true \
        CDK_DISABLE_VERSION_CHECK=1 CDK_DISABLE_CLI_TELEMETRY=1 \
        NODE_PATH="$IAC_ROOT/$IAC_CDK/node_modules" \
      "$IAC_ROOT/$IAC_CDK/node_modules/.bin/cdk" synth \
        --app "node $IAC_ROOT/tests/iac/cdk-app/app.js" --output cdk.out \
        --no-version-reporting --no-notices --no-lookups --quiet >/dev/null
  ) || { rm -rf "$IAC_CDK_OUT"; iac_fail "cdk synth of tests/iac/cdk-app failed"; }
fi
[[ -f "$IAC_CDK_OUT/manifest.json" ]] || iac_fail "cdk synth wrote no $IAC_CDK_OUT/manifest.json"
export ROUTEWARDEN_CDK_OUT="$PWD/$IAC_CDK_OUT"
