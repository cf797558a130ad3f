#!/usr/bin/env bash
# Benchmark of a full `uplift-bot run`: BUGS bugs with pending uplift requests served by a mock
# Bugzilla (mock-bugzilla.py, bugzilla.mozilla.org's answer shapes), the real API on a private
# PostgreSQL cluster, and the repository made by make-repo.sh (its last 900 main commits are the
# patches of bugs 1500000-1500299, three each). Two passes, timed with GNU time:
#   cold  no saved history index or nickname directory: every commit of main read and indexed
#         (while the bugs are fetched), every bug fetched,
#         analysed (per-patch metrics), uploaded, and its patches grafted onto each requested
#         channel's branch;
#   warm  the same bugs again: the index read back (no commit walked), bugs fetched and analysed,
#         but nothing changed, so nothing is uploaded or grafted again.
#
# Usage: bash benches/uplift/run.sh REPO [BUGS]     (BUGS default 300, at most 300)
set -euo pipefail
repo=$(realpath "${1:?usage: run.sh REPO [BUGS]}")
bugs=${2:-300}
cd "$(dirname "$0")/../.."
source scripts/lib.sh
[ -x /usr/bin/time ] || apt_install time
ensure_postgres_installed
cargo build --release --locked -q -p shipit-api -p shipit-uplift
root=$(pwd)
target=${CARGO_TARGET_DIR:-$root/target}

# The cold pass starts without the history index and the reviewers' nicknames of an earlier run.
git_dir=$(cd "$repo" && realpath "$(git rev-parse --git-common-dir)")
rm -f "$git_dir/shipit-uplift-history" "$git_dir/shipit-uplift-nicknames.json"
work=$(mktemp -d)
# As root the private cluster runs as the postgres user, who must be able to enter this directory.
chmod 755 "$work"
api_port=18091
bugzilla_port=18092
cleanup() {
    for pid in ${api_pid:-} ${mock_pid:-}; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    "$target/release/shipit-api" db stop --pg-dir "$work/pg" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

api=("$target/release/shipit-api" --pg-dir "$work/pg")
token=$("${api[@]}" token create --name bench --scope 'project:shipit:uplift/manage' --scope 'project:shipit:runs/manage' 2>/dev/null)
SHIPIT_LOG_FORMAT=json RUST_LOG=warn SHIPIT_RUNNER=none "${api[@]}" serve --listen "127.0.0.1:$api_port" >/dev/null 2>&1 &
api_pid=$!
python3 - "$bugs" >"$work/bugs.json" <<'PY'
import json, sys
channels = [["beta"], ["release"], ["beta", "release"], ["esr140"], ["esr128", "esr140"], ["beta"]]
print(json.dumps([{"id": 1_500_000 + n, "channels": channels[n % len(channels)], "author": f"dev{n % 50}@example.com"}
                  for n in range(int(sys.argv[1]))]))
PY
python3 benches/uplift/mock-bugzilla.py "$bugzilla_port" "$work/bugs.json" &
mock_pid=$!
for _ in $(seq 1 50); do
    curl -fs "http://127.0.0.1:$api_port/__lbheartbeat__" >/dev/null \
        && curl -fs "http://127.0.0.1:$bugzilla_port/rest/bug/1500000" >/dev/null && break
    sleep 0.2
done
kill -0 "$api_pid" && kill -0 "$mock_pid" || { say "the API or the mock Bugzilla did not start"; exit 1; }

cat >"$work/shipit.toml" <<TOML
bug_concurrency = 8
channels = [
  { name = "beta", branch = "beta" },
  { name = "release", branch = "release" },
  { name = "esr128", branch = "esr128" },
  { name = "esr140", branch = "esr140" },
]
[repository]
path = "$repo"
main_branch = "main"
[bugzilla]
url = "http://127.0.0.1:$bugzilla_port"
[api]
url = "http://127.0.0.1:$api_port/"
token = "$token"
TOML

pass() { # name
    RUST_LOG=warn SHIPIT_LOG_FORMAT=json /usr/bin/time -v -o "$work/$1.time" \
        "$target/release/uplift-bot" run --config "$work/shipit.toml" --report "$work/$1.md" 2>"$work/$1.log"
    local wall cpu rss
    wall=$(grep -F 'Elapsed (wall clock)' "$work/$1.time" | awk -F': ' '{ print $2 }' | awk -F: '{ s = 0; for (i = 1; i <= NF; i++) s = s * 60 + $i; print s }')
    cpu=$(echo "$(grep -F 'User time' "$work/$1.time" | awk -F': ' '{ print $2 }') + $(grep -F 'System time' "$work/$1.time" | awk -F': ' '{ print $2 }')" | bc)
    rss=$(($(grep -F 'Maximum resident set size' "$work/$1.time" | awk -F': ' '{ print $2 }') / 1024))
    printf '| %-5s | %7.2f | %7.2f | %8d |\n' "$1" "$wall" "$cpu" "$rss"
}
echo "| pass  |  wall s |   CPU s | RSS MiB |"
echo "|-------|---------|---------|---------|"
pass cold
pass warm
counts() { curl -fs "http://127.0.0.1:$api_port/runs?bot=uplift&limit=2" | python3 -c '
import json, sys
for run in reversed(json.load(sys.stdin)["runs"]):
    print(run["status"], json.dumps(run["counts"], sort_keys=True))'; }
counts
echo "new graft failures reported: $(grep -c '^### Bug' "$work/cold.md" || true)"
