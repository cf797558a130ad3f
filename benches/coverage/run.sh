#!/usr/bin/env bash
# Times `coverage-bot merge --format covdir` against `grcov -t covdir` on the same generated
# inputs, in the same run, and prints a table (wall time, peak RSS, throughput).
#
#   benches/coverage/run.sh [SCALE...]          # default: 0.05 0.2 0.5
#
# Environment: GRCOV (default /work/grcov-bin/bin/grcov or grcov on PATH), BOT (default: the
# release build in $CARGO_TARGET_DIR or target/), WORK (scratch directory, default /tmp/cov-bench).
# Scale 1.0 is mozilla-central sized: 20,000 files, ~3.5M lines, ~2.4 GB of lcov.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
scales=("${@:-0.05 0.2 0.5}")
read -r -a scales <<< "${scales[*]}"
work="${WORK:-/tmp/cov-bench}"
grcov="${GRCOV:-$(command -v grcov || echo /work/grcov-bin/bin/grcov)}"
target="${CARGO_TARGET_DIR:-$root/target}"
bot="${BOT:-$target/release/coverage-bot}"

if [[ -z "${BOT:-}" ]]; then
    (cd "$root" && cargo build --release -p shipit-coverage --quiet)
fi
[[ -x "$grcov" ]] || { echo "grcov not found (set GRCOV)" >&2; grcov=""; }

# Runs a command under /usr/bin/time -v; prints "seconds max_rss_kib".
measure() {
    local log
    log="$(mktemp)"
    /usr/bin/time -v "$@" > /dev/null 2> "$log" || { cat "$log" >&2; rm -f "$log"; return 1; }
    awk -F': ' '/Elapsed \(wall clock\)/ { n = split($2, t, ":"); s = (n == 3) ? t[1] * 3600 + t[2] * 60 + t[3] : t[1] * 60 + t[2] }
                /Maximum resident set size/ { rss = $2 }
                END { printf "%.2f %d\n", s, rss }' "$log"
    rm -f "$log"
}

rows=()
for scale in "${scales[@]}"; do
    dir="$work/scale-$scale"
    if [[ ! -d "$dir" ]]; then
        python3 "$here/generate.py" --scale "$scale" --out "$dir" >&2
    fi
    mb=$(du -sm "$dir" | cut -f1)
    read -r bot_s bot_rss < <(RUST_LOG=warn measure "$bot" merge --format covdir -o "$work/bot-$scale.json" "$dir")
    if [[ -n "$grcov" ]]; then
        # grcov runs from an empty directory so it resolves no relative path against the disk.
        read -r grcov_s grcov_rss < <(cd "$(mktemp -d)" && measure "$grcov" "$dir" -t covdir -o "$work/grcov-$scale.json")
        same=$(python3 - "$work/bot-$scale.json" "$work/grcov-$scale.json" <<'PY'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
print("equal" if a == b else "DIFFERENT")
PY
)
    else
        grcov_s=nan grcov_rss=0 same=n/a
    fi
    rows+=("$scale $mb $bot_s $bot_rss $grcov_s $grcov_rss $same")
    rm -f "$work/bot-$scale.json" "$work/grcov-$scale.json"
done

printf '\n%-6s %8s | %10s %10s %9s | %10s %10s %9s | %7s %9s\n' \
    scale "MB" "bot s" "bot MiB" "bot MB/s" "grcov s" "grcov MiB" "grcov MB/s" speedup covdir
for row in "${rows[@]}"; do
    read -r scale mb bot_s bot_rss grcov_s grcov_rss same <<< "$row"
    awk -v scale="$scale" -v mb="$mb" -v bs="$bot_s" -v br="$bot_rss" -v gs="$grcov_s" -v gr="$grcov_rss" -v same="$same" 'BEGIN {
        speed = (gs == "nan" || bs == 0) ? "n/a" : sprintf("%.1fx", gs / bs)
        printf "%-6s %8d | %10.2f %10.0f %9.0f | %10s %10.0f %9s | %7s %9s\n",
            scale, mb, bs, br / 1024, (bs > 0 ? mb / bs : 0),
            gs, gr / 1024, (gs == "nan" || gs == 0) ? "n/a" : sprintf("%.0f", mb / gs), speed, same
    }'
done
