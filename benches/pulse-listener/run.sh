#!/usr/bin/env bash
# Messages per second through the pulse listener (decode, rule, event claimed in the API with its
# run, hook triggered, event confirmed, ack; claims and confirmations batched across messages; API
# and Taskcluster mocked in-process) against a bare lapin consumer that only acks, on the same
# RabbitMQ, in the same run, same prefetch.
#
#   benches/pulse-listener/run.sh [MESSAGES] [PREFETCH] [REPEAT]     # default: 20000 64 5
#
# Needs RabbitMQ on 127.0.0.1:5672 (guest/guest), or AMQP_URL. Target: the listener reaches at
# least 80% of the bare consumer's rate. The broker's own rate varies by a third from one run to
# the next on a 2-core machine, so the pair is measured REPEAT times and the medians compared.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"
cargo build --release --quiet -p shipit-pulse-listener --example throughput
target="${CARGO_TARGET_DIR:-$root/target}"
bare=() listener=()
for _ in $(seq "${3:-5}"); do
    table=$(RUST_LOG="${RUST_LOG:-warn}" "$target/release/examples/throughput" "${1:-20000}" "${2:-64}")
    echo "$table" | tail -n 2
    bare+=("$(echo "$table" | grep '^| bare' | awk -F'|' '{ print $6 + 0 }')")
    listener+=("$(echo "$table" | grep '^| pulse-listener' | awk -F'|' '{ print $6 + 0 }')")
done
median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
bare_median=$(median "${bare[@]}")
listener_median=$(median "${listener[@]}")
echo "medians of ${3:-5} runs: bare $bare_median, listener $listener_median messages/s, $(echo "100 * $listener_median / $bare_median" | bc)% of bare"
