#!/usr/bin/env bash
# Times `coverage-bot merge --format covdir` against `grcov -t covdir` on the same generated
# inputs, in the same run, and prints a table (wall time, CPU time, peak RSS, throughput).
#
#   benches/coverage/run.sh [SCALE...]          # default: 0.2 0.5 1.0
#
# Each scale is measured REPEAT times (default 3), the two tools interleaved (alternating which
# goes first), because other work on the machine disturbs single measurements: the table gives
# the best and the median of each. The first round also checks that both covdir outputs are equal.
#
# Environment: GRCOV (grcov on PATH, else ~/.cargo/bin/grcov; install it outside the workspace with `cargo install grcov --version 0.10.7`), BOT (default: the
# release build in $CARGO_TARGET_DIR or target/), WORK (scratch directory, default /tmp/cov-bench),
# REPEAT. Scale 1.0 is mozilla-central sized: 20,000 files, ~3.5M lines, ~2.4 GB of lcov.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
scales=("${@:-0.2 0.5 1.0}")
read -r -a scales <<< "${scales[*]}"
work="${WORK:-/tmp/cov-bench}"
repeat="${REPEAT:-3}"
grcov="${GRCOV:-$(command -v grcov || echo "$HOME/.cargo/bin/grcov")}"
target="${CARGO_TARGET_DIR:-$root/target}"
bot="${BOT:-$target/release/coverage-bot}"

if [[ -z "${BOT:-}" ]]; then
    (cd "$root" && cargo build --release -p shipit-coverage --quiet)
fi
[[ -x "$grcov" ]] || { echo "grcov not found (set GRCOV)" >&2; exit 1; }

# Runs a command under /usr/bin/time; prints "wall_seconds cpu_seconds max_rss_kib".
measure() {
    local log
    log="$(mktemp)"
    /usr/bin/time -f '%e %U %S %M' -o "$log" "$@" > /dev/null || { cat "$log" >&2; rm -f "$log"; return 1; }
    awk 'END { printf "%.2f %.2f %d\n", $1, $2 + $3, $4 }' "$log"
    rm -f "$log"
}

run_bot() {
    RUST_LOG=warn measure "$bot" merge --format covdir -o "$work/bot-$1.json" "$2"
}

run_grcov() {
    # grcov runs from an empty directory so it resolves no relative path against the disk.
    local empty
    empty="$(mktemp -d)"
    (cd "$empty" && measure "$grcov" "$2" -t covdir -o "$work/grcov-$1.json")
    rmdir "$empty"
}

results="$(mktemp)"
for scale in "${scales[@]}"; do
    dir="$work/scale-$scale"
    if [[ ! -d "$dir" ]]; then
        python3 "$here/generate.py" --scale "$scale" --out "$dir" >&2
    fi
    mb=$(du -sm "$dir" | cut -f1)
    for ((round = 1; round <= repeat; round++)); do
        if ((round % 2)); then order=(bot grcov); else order=(grcov bot); fi
        for tool in "${order[@]}"; do
            read -r wall cpu rss < <("run_$tool" "$scale" "$dir")
            echo "$scale $mb $tool $wall $cpu $rss" >> "$results"
            echo "scale $scale round $round: $tool ${wall}s (cpu ${cpu}s) $((rss / 1024)) MiB" >&2
        done
        if ((round == 1)); then
            same=$(python3 - "$work/bot-$scale.json" "$work/grcov-$scale.json" <<'PY'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
print("equal" if a == b else "DIFFERENT")
PY
)
            echo "$scale $mb same $same 0 0" >> "$results"
        fi
        rm -f "$work/bot-$scale.json" "$work/grcov-$scale.json"
    done
done

python3 - "$results" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    scale, mb, tool, a, b, c = line.split()
    entry = rows.setdefault(scale, {"mb": int(mb), "bot": [], "grcov": [], "same": "?"})
    if tool == "same":
        entry["same"] = a
    else:
        entry[tool].append((float(a), float(b), int(c) / 1024))
print("| scale | input | coverage-bot best / median | CPU | peak RSS | grcov best / median | CPU | peak RSS "
      "| speed-up best / median | covdir |")
print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
for scale, e in rows.items():
    def stats(runs):
        walls = [r[0] for r in runs]
        return min(walls), statistics.median(walls), statistics.median(r[1] for r in runs), max(r[2] for r in runs)
    b, g = stats(e["bot"]), stats(e["grcov"])
    print(f"| {scale} | {e['mb']} MB | {b[0]:.2f} s / {b[1]:.2f} s | {b[2]:.2f} s | {b[3]:.0f} MiB "
          f"| {g[0]:.2f} s / {g[1]:.2f} s | {g[2]:.2f} s | {g[3]:.0f} MiB "
          f"| {g[0] / b[0]:.1f}× / {g[1] / b[1]:.1f}× | {e['same']} |")
PY
rm -f "$results"
