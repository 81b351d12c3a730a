#!/usr/bin/env bash
# Every benchmark, in one run on this machine, printing tables (docs/performance.md
# explains each). Builds in release mode first. About 6 minutes after the build.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked
echo "## Policy evaluation (criterion)"
cargo bench --locked --bench evaluate -- --warm-up-time 2 --measurement-time 5 2>&1 \
  | grep -E "^evaluate_10k|time:|thrpt:" | grep -v "change:"
echo
echo "## Offline --check, 1k to 1M routes"
python3 benches/offline.py
echo
echo "## Live: throttled at AWS's quota, and unthrottled"
cargo bench --locked --bench throttle
echo
echo "## Daemon with 100k routes"
python3 benches/daemon.py
