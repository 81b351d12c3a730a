#!/usr/bin/env bash
# The soak test (not part of CI): the daemon for 30 minutes at a 1 s interval
# against the fault server with faults switched on; see benches/soak.rs.
# SOAK_SECONDS, SOAK_SAMPLE_SECONDS and SOAK_PHASE_SECONDS shorten it for a trial.
# Writes target/soak/samples.csv, target/soak/summary.md and docs/soak.svg.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p target/soak
cargo bench --locked --features test-intervals --bench soak | tee target/soak/summary.md
python3 benches/soak_chart.py target/soak/samples.csv docs/soak.svg
