#!/usr/bin/env bash
# Every benchmark, in one run on this machine, printing tables (docs/performance.md
# explains each). Builds in release mode first; about 8 minutes after the build.
# Needs moto (installed by the test command) and installs Cloud Custodian in its
# own venv under target/.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ ! -x target/moto-venv/bin/moto_server ]]; then
  python3 -m venv target/moto-venv
  target/moto-venv/bin/pip install --quiet --disable-pip-version-check 'moto[server]>=5,<6'
fi
if [[ ! -x target/c7n-venv/bin/custodian ]]; then
  python3 -m venv target/c7n-venv
  target/c7n-venv/bin/pip install --quiet --disable-pip-version-check c7n
fi
cargo build --release --locked
echo "## Policy evaluation (criterion)"
cargo bench --locked -p routewarden-core --bench evaluate -- --warm-up-time 2 --measurement-time 5 2>&1 \
  | grep -E "^evaluate_10k|time:|thrpt:" | grep -v "change:"
echo
echo "## Code before deploy: a 50-stack, 2,000-route cdk.out (criterion)"
cargo bench --locked -p routewarden-core --bench iac -- --warm-up-time 2 --measurement-time 5 2>&1 \
  | grep -E "^iac_2000|time:|thrpt:" | grep -v "change:"
echo
echo "## Offline --check, 1k to 1M routes"
python3 benches/offline.py
echo
echo "## Live: throttled at AWS's quota, and unthrottled"
cargo bench --locked --bench throttle
echo
echo "## A whole organization: 500 accounts x 2 regions"
cargo bench --locked --bench organization
echo
echo "## Daemon with 100k routes"
python3 benches/daemon.py
echo
echo "## HTTP endpoint under 1,000 idle connections"
python3 benches/idle_connections.py
python3 benches/idle_connections.py target/release/routewarden 1000 10 5 reconnect
echo
echo "## Against Cloud Custodian"
cargo bench --locked --bench custodian
