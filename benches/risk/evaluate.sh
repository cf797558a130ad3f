#!/usr/bin/env bash
# The risk model's evaluation on a real history, reproducible with one command: a bare clone of
# the repository (a bundle or a directory), the labels from its `Fixes:` trailers (ground truth;
# with SZZ's precision and recall against them on standard error), then `risk-bot evaluate` on
# the time-ordered split: train strictly before DATE on what was known then, test after, the
# model against LApredict (logistic regression on lines added alone) on the same split.
#
# Usage: bash benches/risk/evaluate.sh [REPO_OR_BUNDLE] [DATE] [LABELS] [BOT_BINARY]
#   REPO_OR_BUNDLE  default ../shared/real-repos/iproute2.bundle
#   DATE            default 2020-10-01
#   LABELS          a label file (`risk-bot label` CSV, or one introducing commit id per line);
#                   default: the repository's `Fixes:` trailers
#   BOT_BINARY      default target/release/risk-bot (cargo build --release -p shipit-risk)
# Writes the JSON figures to target/risk-evaluation.json and prints the table.
set -euo pipefail

source=${1:-../shared/real-repos/iproute2.bundle}
date=${2:-2020-10-01}
labels=${3:-}
bot=$(realpath "${4:-target/release/risk-bot}")
[ -x "$bot" ] || { echo "no $bot: cargo build --release -p shipit-risk" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if [ -f "$source" ]; then
    # A bundle: its first branch becomes HEAD.
    branch=$(git bundle list-heads "$source" | awk '{print $2}' | grep '^refs/heads/' | head -1)
    git clone --quiet --bare --branch "${branch#refs/heads/}" "$source" "$work/repo.git"
    repo=$work/repo.git
else
    repo=$(realpath "$source")
fi
cache=$work/changes.jsonl

start=$(date +%s.%N)
if [ -z "$labels" ]; then
    labels=$work/labels.csv
    "$bot" label --repo "$repo" --cache "$cache" --no-functions --source fixes-trailer -o "$labels" 2>"$work/label.log"
    grep -v '^{' "$work/label.log" >&2 || true
fi
"$bot" evaluate --repo "$repo" --cache "$cache" --no-functions --split "$date" --labels "$labels" --format json \
    2>/dev/null >target/risk-evaluation.json
"$bot" evaluate --repo "$repo" --cache "$cache" --no-functions --split "$date" --labels "$labels" 2>/dev/null
end=$(date +%s.%N)
printf '\n(%.1f s, figures in target/risk-evaluation.json)\n' "$(echo "$end - $start" | bc)"
