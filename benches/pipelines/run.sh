#!/usr/bin/env bash
# The pipeline engine: PIPELINES pipelines of STEPS chained steps on a mock step service that
# finishes each step 0 to 50 ms after its creation; steps per second and the delay between a step
# seen finished and the next one created (p50, p99). Four runs: LISTEN/NOTIFY on one API and on two
# APIs sharing the database, then the same code as a polling engine (no NOTIFY) every INTERVAL s.
#
#   benches/pipelines/run.sh [PIPELINES] [STEPS] [INTERVAL]     # default: 1000 5 5
#
# Needs PostgreSQL: SHIPIT_TEST_DATABASE_URL, or the test cluster in target/. Target: p99 under
# 100 ms with LISTEN/NOTIFY on one API; the figure to beat is the polling interval.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"
cargo build --release --quiet -p shipit-api --features testing --example pipelines
target="${CARGO_TARGET_DIR:-$root/target}"
run() { RUST_LOG="${RUST_LOG:-error}" "$target/release/examples/pipelines" "${1:-1000}" "${2:-5}" "$3" "$4" "${5:-5}"; }
run "${1:-1000}" "${2:-5}" 1 notify 5
run "${1:-1000}" "${2:-5}" 2 notify 5 | tail -n 1
run "${1:-1000}" "${2:-5}" 1 poll "${3:-5}" | tail -n 1
run "${1:-1000}" "${2:-5}" 2 poll "${3:-5}" | tail -n 1
