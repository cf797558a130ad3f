#!/usr/bin/env bash
# Benchmark: peak RSS of the API while it takes coverage uploads, read from /proc (VmHWM, reset
# through clear_refs before each scenario):
#   1. one mozilla-central-size report (20,000 files, 170 lines each), gzip-compressed;
#   2. four gzip bombs (1 GiB of JSON whitespace each, about 1 MB compressed) and one valid report of
#      about 100 MB sent at once, with the default upload concurrency (2) and with 5 (every upload
#      processed at once).
#
#   bash benches/api/coverage-upload.sh [path of shipit-api, default target/release/shipit-api]
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/lib.sh

api_bin=${1:-target/release/shipit-api}
[ -x "$api_bin" ] || cargo build --release --locked -q -p shipit-api
ensure_postgres_installed
work=$(mktemp -d)
chmod 755 "$work"
port=18083
cleanup() {
    if [ -n "${api_pid:-}" ]; then kill "$api_pid" 2>/dev/null || true; wait "$api_pid" 2>/dev/null || true; fi
    "$api_bin" db stop --pg-dir "$work/pg" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

python3 benches/api/make-upload.py 20000 170 "$work/m-c.json"
python3 benches/api/make-upload.py 20000 1700 "$work/100mb.json"
gzip -k -1 "$work/m-c.json" "$work/100mb.json"
python3 - "$work/bomb.json.gz" <<'PY'
import gzip, sys
with gzip.open(sys.argv[1], "wb", compresslevel=9) as out:
    out.write(b'{"covdir": ')
    chunk = b" " * (1 << 20)
    for _ in range(1024):
        out.write(chunk)
    out.write(b"}")
PY
say "m-c report: $(du -h "$work/m-c.json" | cut -f1) ($(du -h "$work/m-c.json.gz" | cut -f1) gzip); 100 MB report: $(du -h "$work/100mb.json" | cut -f1) ($(du -h "$work/100mb.json.gz" | cut -f1) gzip); bomb: $(du -h "$work/bomb.json.gz" | cut -f1) gzip"

api=("$api_bin" --pg-dir "$work/pg")
token=$("${api[@]}" token create --name bench --scope 'project:shipit:coverage/manage' 2>/dev/null)

upload() { # file → HTTP status
    curl -s -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$port/coverage/reports" \
        -H "authorization: Bearer $token" -H 'content-type: application/json' -H 'content-encoding: gzip' \
        --data-binary "@$1"
}
peak() { grep VmHWM "/proc/$api_pid/status" | awk '{printf "%d MiB", $2 / 1024}'; }
rss() { grep VmRSS "/proc/$api_pid/status" | awk '{printf "%d MiB", $2 / 1024}'; }

for concurrency in 2 5; do
    SHIPIT_LOG_FORMAT=json RUST_LOG=warn SHIPIT_RUNNER=none SHIPIT_REQUEST_TIMEOUT_SECS=300 \
        SHIPIT_COVERAGE_UPLOAD_CONCURRENCY=$concurrency "${api[@]}" serve --listen "127.0.0.1:$port" >/dev/null 2>&1 &
    api_pid=$!
    for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$port/__lbheartbeat__" >/dev/null && break; sleep 0.2; done
    say "upload concurrency $concurrency; idle RSS $(rss)"
    if [ "$concurrency" = 2 ]; then
        echo 5 > "/proc/$api_pid/clear_refs"
        start=$(date +%s.%N)
        status=$(upload "$work/m-c.json.gz")
        say "m-c report: $status in $(echo "$(date +%s.%N) - $start" | bc) s; peak RSS $(peak)"
    fi
    echo 5 > "/proc/$api_pid/clear_refs"
    statuses=()
    for i in 1 2 3 4; do upload "$work/bomb.json.gz" > "$work/bomb-$i" & done
    upload "$work/100mb.json.gz" > "$work/valid" &
    wait $(jobs -p | grep -v "^$api_pid$") 2>/dev/null || true
    for i in 1 2 3 4; do statuses+=("$(cat "$work/bomb-$i")"); done
    say "four bombs (${statuses[*]}) and the 100 MB report ($(cat "$work/valid")) at once: peak RSS $(peak)"
    kill "$api_pid"; wait "$api_pid" 2>/dev/null || true; api_pid=
done
