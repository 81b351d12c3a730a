#!/usr/bin/env bash
# Runs routewarden --check for action.yml: the SARIF report to RW_SARIF_FILE,
# then (RW_LOG_REPORT=true) the text report to the log and the summary line to
# the job summary. Exits 0 whatever the audit found, with the step outputs
# `exit-code` and `sarif-file` (empty when no SARIF was written): the action
# uploads the SARIF first and fails afterwards. Exits 2 itself only when an
# input is malformed.
#
# Inputs (environment): RW_BIN, RW_IAC, RW_ROUTES, RW_CONFIG, RW_POLICIES,
# RW_IAC_PARAMS, RW_FAIL_ON, RW_FAIL_ON_INDETERMINATE, RW_BASELINE,
# RW_BASELINE_IAC, RW_SARIF_FILE, RW_LOG_REPORT, RW_ARGS; GITHUB_OUTPUT and
# GITHUB_STEP_SUMMARY.
set -uo pipefail

bad_input() {
  echo "::error title=routewarden::$*"
  exit 2
}

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# words NAME TEXT: the words of TEXT into the array NAME. Words are separated
# by spaces or newlines; '...' and "..." keep spaces in one, as xargs reads
# them. Nothing is expanded or run.
words() {
  local -n into="$1"
  into=()
  [[ -n "${2//[[:space:]]/}" ]] || return 0
  printf '%s' "$2" | xargs printf '%s\0' > "$work/words" 2> "$work/words.err" \
    || bad_input "cannot split '$2' into words: $(cat "$work/words.err")"
  mapfile -d '' into < "$work/words"
}

boolean() { # boolean NAME VALUE: true or false
  case "$2" in
    true | false) ;;
    *) bad_input "input $1 must be true or false, not '$2'" ;;
  esac
}

bin="${RW_BIN:-routewarden}"
boolean fail-on-indeterminate "${RW_FAIL_ON_INDETERMINATE:-false}"
boolean log-report "${RW_LOG_REPORT:-true}"

args=(--check)
[[ -n "${RW_CONFIG:-}" ]] && args+=(--config "$RW_CONFIG")
words list "${RW_IAC:-}"
for w in "${list[@]}"; do args+=(--iac "$w"); done
words list "${RW_ROUTES:-}"
for w in "${list[@]}"; do args+=(--routes "$w"); done
words list "${RW_POLICIES:-}"
for w in "${list[@]}"; do args+=(--policies "$w"); done
words list "${RW_IAC_PARAMS:-}"
for w in "${list[@]}"; do args+=(--iac-param "$w"); done
[[ -n "${RW_BASELINE:-}" ]] && args+=(--baseline "$RW_BASELINE")
words list "${RW_BASELINE_IAC:-}"
for w in "${list[@]}"; do args+=(--baseline-iac "$w"); done
[[ -n "${RW_FAIL_ON:-}" ]] && args+=(--fail-on "$RW_FAIL_ON")
[[ "${RW_FAIL_ON_INDETERMINATE:-false}" == true ]] && args+=(--fail-on-indeterminate)
words extra "${RW_ARGS:-}"
args+=("${extra[@]}")
# Logs as lines a person reads (JSON is the default off a terminal), unless
# the extra arguments choose.
[[ " ${extra[*]} " == *" --log-format"* ]] || args+=(--log-format text)

sarif="${RW_SARIF_FILE:-routewarden.sarif}"
[[ -n "$sarif" ]] || bad_input "input sarif-file must not be empty"
mkdir -p "$(dirname -- "$sarif")"
# A file left by an earlier step must not be uploaded as this run's.
rm -f -- "$sarif"

echo "routewarden ${args[*]} --format sarif --output $sarif"
"$bin" "${args[@]}" --format sarif --output "$sarif"
code=$?
[[ -s "$sarif" ]] || sarif=""

if [[ "${RW_LOG_REPORT:-true}" == true ]]; then
  # The same audit again, for the log. Its warnings were printed by the
  # first run: only errors now.
  RUST_LOG=error "$bin" "${args[@]}" --format text | tee "$work/report.txt"
  text_code=${PIPESTATUS[0]}
  if [[ "$text_code" != "$code" ]]; then
    echo "::warning title=routewarden::the text report's run exited $text_code, the SARIF run $code (a live audit read AWS twice and saw a change); the action reports $code"
  fi
  if [[ -n "${GITHUB_STEP_SUMMARY:-}" && -s "$work/report.txt" ]]; then
    {
      echo '### routewarden'
      echo
      echo '```text'
      tail -n 1 "$work/report.txt"
      echo '```'
    } >> "$GITHUB_STEP_SUMMARY"
  fi
fi

{
  echo "exit-code=$code"
  echo "sarif-file=$sarif"
} >> "${GITHUB_OUTPUT:-/dev/null}"
exit 0
