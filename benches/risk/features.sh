#!/usr/bin/env bash
# Feature extraction throughput (`risk-bot features`, both cores) and peak memory (GNU time):
# iproute2 cold (no cache, with and without the function change sets), warm (the cache holds all
# but the newest commit: the next push costs only it), and a generated repository of COMMITS
# commits (gen-repo.py), cold and warm.
#
# Usage: bash benches/risk/features.sh [BUNDLE] [COMMITS] [BOT_BINARY]
#   BUNDLE      default ../shared/real-repos/iproute2.bundle
#   COMMITS     default 100000 (the generated repository is kept in target/risk-bench-repo.git)
#   BOT_BINARY  default target/release/risk-bot
set -euo pipefail

bundle=${1:-../shared/real-repos/iproute2.bundle}
count=${2:-100000}
bot=$(realpath "${3:-target/release/risk-bot}")
[ -x "$bot" ] || { echo "no $bot: cargo build --release -p shipit-risk" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "missing GNU time: apt-get install time" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# One measured run: rows per second of wall time, the CPU time (user + system: on a shared
# machine, wall time depends on the other load), commits read (not from the cache), peak RSS.
measure() {
    local label=$1; shift
    /usr/bin/time -f '%e %U %S %M' -o "$work/time" "$bot" features "$@" >"$work/rows.csv" 2>"$work/log"
    local rows seconds user system rss
    rows=$(($(wc -l <"$work/rows.csv") - 1))
    read -r seconds user system rss <"$work/time"
    local read_commits cpu
    read_commits=$(grep -o 'read: [0-9]*' "$work/log" | tail -1 | awk '{print $2}')
    cpu=$(echo "$user + $system" | bc -l)
    printf '%-46s %7d rows %8.2f s %8.0f rows/s %8.2f CPU s %6d read %7.1f MiB peak (load %s)\n' \
        "$label" "$rows" "$seconds" "$(echo "$rows / $seconds" | bc -l)" "$cpu" "${read_commits:-0}" \
        "$(echo "$rss / 1024" | bc -l)" "$(cut -d' ' -f1 /proc/loadavg)"
}

git clone --quiet --bare --branch main "$bundle" "$work/iproute2.git"
repo=$work/iproute2.git
measure "iproute2 cold, no function change sets" --repo "$repo" --no-cache --no-functions
measure "iproute2 cold, function change sets" --repo "$repo" --cache "$work/fn.jsonl"
# Warm: the cache of everything but the newest commit, then the newest arrives.
measure "iproute2 cache of all but HEAD (setup)" --repo "$repo" --cache "$work/warm.jsonl" --no-functions --head HEAD~1
measure "iproute2 warm: HEAD only is new" --repo "$repo" --cache "$work/warm.jsonl" --no-functions
measure "iproute2 warm, function change sets" --repo "$repo" --cache "$work/fn.jsonl"

generated=target/risk-bench-repo.git
if [ ! -d "$generated" ] || [ "$(git --git-dir "$generated" rev-list --count main)" != "$count" ]; then
    rm -rf "$generated"
    python3 "$(dirname "$0")/gen-repo.py" "$generated" "$count"
fi
measure "generated $count commits cold, no functions" --repo "$generated" --no-cache --no-functions
measure "generated $count commits cold, functions" --repo "$generated" --cache "$work/gen.jsonl"
measure "generated $count commits warm" --repo "$generated" --cache "$work/gen.jsonl"
