#!/usr/bin/env bash
# The dashboard's read path at mozilla-central scale (20,000 files of 170 lines, the coverage
# generator): `GET /coverage/path` for the root and a deep directory, against nginx serving the same
# bytes as a static file, with and without `If-None-Match` (the 304 path), then the dashboard's
# coverage directory and file pages. wrk, 2 threads, 16 connections, DURATION s each (default 10);
# requests per second, latency percentiles, and the server's CPU time a request (user and system,
# from /proc: what the server itself costs, whatever share of the cores the client takes); server
# and client on this machine.
#
#   bash benches/dashboard/run.sh [DURATION]
#
# Needs nginx (nginx-light) and wrk, installed here with apt-get when missing. Targets: within 2× of
# nginx on the 304 path and 4× on the full answer; the pages' p95 under 100 ms.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/lib.sh

duration=${1:-10}
ensure_postgres_installed
ensure_programs_installed nginx:nginx-light wrk:wrk curl:curl
api_bin=${CARGO_TARGET_DIR:-target}/release/shipit-api
cargo build --release --locked -q -p shipit-api
work=$(mktemp -d)
chmod 755 "$work"
port=18084
nginx_port=18085
cleanup() {
    if [ -n "${api_pid:-}" ]; then kill "$api_pid" 2>/dev/null || true; wait "$api_pid" 2>/dev/null || true; fi
    if [ -f "$work/nginx.pid" ]; then kill "$(cat "$work/nginx.pid")" 2>/dev/null || true; fi
    "$api_bin" db stop --pg-dir "$work/pg" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

python3 benches/api/make-upload.py 20000 170 "$work/m-c.json"
gzip -k -1 "$work/m-c.json"
api=("$api_bin" --pg-dir "$work/pg")
token=$("${api[@]}" token create --name bench --scope 'project:shipit:coverage/manage' 2>/dev/null)
SHIPIT_LOG_FORMAT=json RUST_LOG=warn SHIPIT_RUNNER=none "${api[@]}" serve --listen "127.0.0.1:$port" >/dev/null 2>&1 &
api_pid=$!
wait_for_api "http://127.0.0.1:$port" 60
status=$(curl -s -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$port/coverage/reports" \
    -H "authorization: Bearer $token" -H 'content-type: application/json' -H 'content-encoding: gzip' \
    --data-binary "@$work/m-c.json.gz")
[ "$status" = 201 ] || { say "the upload answered $status"; exit 1; }

# The deepest directory and a file in it.
read -r deep file < <(python3 - "$work/m-c.json" <<'PY'
import json, sys
root = json.load(open(sys.argv[1]))["covdir"]
best = ("", None)
def walk(node, path):
    global best
    dirs = {k: v for k, v in node["children"].items() if "children" in v}
    files = [k for k, v in node["children"].items() if "coverage" in v]
    if files and len(path.split("/")) > len(best[0].split("/")):
        best = (path, path + "/" + files[0])
    for name, child in dirs.items():
        walk(child, f"{path}/{name}" if path else name)
walk(root, "")
print(best[0], best[1])
PY
)
revision=$(printf 'a%.0s' $(seq 1 40))
base="http://127.0.0.1:$port"
root_url="$base/coverage/path?repository=mozilla-central&changeset=$revision"
deep_url="$root_url&path=$deep"
mkdir -p "$work/static"
curl -fsS "$root_url" -o "$work/static/root.json"
curl -fsS "$deep_url" -o "$work/static/deep.json"
etag() { curl -fsS -o /dev/null -D - "$1" | tr -d '\r' | awk 'tolower($1) == "etag:" {print $2}'; }

cat > "$work/nginx.conf" <<CONF
worker_processes 2;
pid $work/nginx.pid;
error_log $work/nginx-error.log;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $work/nginx-body;
    server {
        listen 127.0.0.1:$nginx_port;
        root $work/static;
        default_type application/json;
        etag on;
    }
}
CONF
nginx -c "$work/nginx.conf"
for _ in $(seq 1 50); do curl -fs "http://127.0.0.1:$nginx_port/root.json" >/dev/null && break; sleep 0.1; done

# CPU time (user and system, in clock ticks) the processes PIDS... have used so far.
cpu_ticks() {
    local total=0 pid
    for pid in "$@"; do total=$((total + $(awk '{print $14 + $15}' "/proc/$pid/stat"))); done
    echo "$total"
}
nginx_pids=$(pgrep -f "nginx: worker process" | tr '\n' ' ')
tick_us=$((1000000 / $(getconf CLK_TCK)))
bench() { # label api|nginx URL [ETAG]
    local header=() pids=$api_pid
    [ -n "${4:-}" ] && header=(-H "If-None-Match: $4")
    [ "$2" = nginx ] && pids=$nginx_pids
    local line before after
    # shellcheck disable=SC2086 # one argument a process
    before=$(cpu_ticks $pids)
    line=$(wrk -t2 -c16 -d"${duration}s" --latency -s benches/dashboard/latency.lua "${header[@]}" "$3" | grep '^RESULT')
    # shellcheck disable=SC2086
    after=$(cpu_ticks $pids)
    read -r _ rps p50 p95 p99 errors requests <<< "$line"
    printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$1" "$rps" "$p50" "$p95" "$p99" "$errors" \
        "$(( (after - before) * tick_us / requests ))"
}
say "root answer $(du -h "$work/static/root.json" | cut -f1), deep directory ($deep) $(du -h "$work/static/deep.json" | cut -f1)"
echo "| what | requests/s | p50 ms | p95 ms | p99 ms | errors | server CPU µs a request |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
for name in root deep; do
    url=$root_url
    [ "$name" = deep ] && url=$deep_url
    bench "API /coverage/path, $name, full" api "$url"
    bench "nginx, $name, full" nginx "http://127.0.0.1:$nginx_port/$name.json"
    bench "API /coverage/path, $name, If-None-Match (304)" api "$url" "$(etag "$url")"
    bench "nginx, $name, If-None-Match (304)" nginx "http://127.0.0.1:$nginx_port/$name.json" \
        "$(etag "http://127.0.0.1:$nginx_port/$name.json")"
done
bench "dashboard directory page (deep)" api "$base/ui/coverage?repository=mozilla-central&changeset=$revision&path=$deep"
bench "dashboard directory page (root)" api "$base/ui/coverage?repository=mozilla-central&changeset=$revision"
bench "dashboard file page" api "$base/ui/coverage?repository=mozilla-central&changeset=$revision&path=$file"
