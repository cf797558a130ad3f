#!/usr/bin/env bash
# Messages per second through the pulse listener (decode, rule, event claimed in the API with its
# run, hook triggered, event confirmed, ack; API and Taskcluster mocked in-process) against
# a bare lapin consumer that only acks, on the same RabbitMQ, in the same run, same prefetch.
#
#   benches/pulse-listener/run.sh [MESSAGES] [PREFETCH]     # default: 20000 64
#
# Needs RabbitMQ on 127.0.0.1:5672 (guest/guest), or AMQP_URL. Target: the listener reaches at
# least 80% of the bare consumer's rate.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"
cargo build --release --quiet -p shipit-pulse-listener --example throughput
target="${CARGO_TARGET_DIR:-$root/target}"
RUST_LOG="${RUST_LOG:-warn}" "$target/release/examples/throughput" "${1:-20000}" "${2:-64}"
