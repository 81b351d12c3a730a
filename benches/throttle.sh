#!/usr/bin/env bash
# The throttling benchmark: builds in release mode and prints the table.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo bench --locked --bench throttle
