#!/usr/bin/env bash
# Daemon cost with 100k routes: builds the release binary, then measures.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked
python3 benches/daemon.py
