#!/usr/bin/env bash
# Every CloudFormation and SAM fixture is valid CloudFormation: cfn-lint over
# tests/fixtures/iac/{cfn,sam} and examples/iac/ (the templates there, not
# plans or OpenAPI files). An error fails; warnings are shown and pass (some,
# like a runtime's deprecation, depend on the date cfn-lint runs on).
#
#   bash tests/iac/lint_fixtures.sh      (after tests/iac/peers.sh installed cfn-lint)
#
# cfn-lint is $ROUTEWARDEN_CFN_LINT, else target/iac-venv/bin/cfn-lint.
set -euo pipefail
cd "$(dirname "$0")/../.."

CFN_LINT="${ROUTEWARDEN_CFN_LINT:-$PWD/target/iac-venv/bin/cfn-lint}"
[[ -x "$CFN_LINT" ]] || { echo "tests/iac/lint_fixtures.sh: cfn-lint missing ($CFN_LINT): run tests/iac/peers.sh" >&2; exit 1; }

# A template is a file with a top-level `Resources` key (CloudFormation and
# SAM); examples/iac/ also holds Terraform plans and OpenAPI files, not linted.
is_template() {
  grep -Eq '^(Resources:|[[:space:]]*"Resources"[[:space:]]*:)' "$1"
}

templates=()
for dir in tests/fixtures/iac/cfn tests/fixtures/iac/sam examples/iac; do
  [[ -d "$dir" ]] || continue
  while IFS= read -r -d '' f; do
    is_template "$f" && templates+=("$f")
  done < <(find "$dir" -type f \( -name '*.yaml' -o -name '*.yml' -o -name '*.json' -o -name '*.template' \) \
             -not -path '*/node_modules/*' -not -path '*/cdk.out/*' -print0 | sort -z)
done
[[ ${#templates[@]} -gt 0 ]] || { echo "tests/iac/lint_fixtures.sh: no template found" >&2; exit 1; }

# One cfn-lint run for all (its start-up is most of the time). Its exit code
# is a bit set: 2 errors, 4 warnings, 8 informational; 1 means cfn-lint itself
# failed. Parseable lines are FILE:LINE:COL:ENDLINE:ENDCOL:RULE:MESSAGE.
rc=0
out=$("$CFN_LINT" --format parseable -- "${templates[@]}" 2>&1) || rc=$?
for f in "${templates[@]}"; do
  if awk -F: -v f="$f" '$1 == f && $6 ~ /^E/ { found = 1 } END { exit !found }' <<<"$out"; then
    echo "FAIL $f" >&2
  elif awk -F: -v f="$f" '$1 == f { found = 1 } END { exit !found }' <<<"$out"; then
    echo "ok   $f (warnings)" >&2
  else
    echo "ok   $f" >&2
  fi
done
[[ -z "$out" ]] || printf '%s\n' "$out" >&2
if (( rc & 3 )); then
  echo "tests/iac/lint_fixtures.sh: cfn-lint found errors (exit $rc)" >&2
  exit 1
fi
