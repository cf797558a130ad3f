#!/usr/bin/env bash
# Benchmark: GET /runs (a page of 50 runs from PostgreSQL, serialised per request) against the same
# bytes served as a static file by nginx, both loaded by wrk from another process over loopback,
# in the same run. Prints requests per second, p50 and p99 latency, and the ratios.
#
#   bash benches/api/runs.sh [duration, default 15s] [connections, default 32]
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/lib.sh

duration=${1:-15s}
connections=${2:-32}
command -v wrk >/dev/null 2>&1 || apt_install wrk
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || apt_install nginx-light
ensure_postgres_installed
cargo build --release --locked -q -p shipit-api

work=$(mktemp -d)
# As root the private cluster runs as the postgres user, who must be able to enter this directory.
chmod 755 "$work"
api_port=18081
static_port=18082
cleanup() {
    if [ -n "${api_pid:-}" ]; then
        kill "$api_pid" 2>/dev/null || true
        wait "$api_pid" 2>/dev/null || true
    fi
    if [ -f "$work/nginx.pid" ]; then
        kill "$(cat "$work/nginx.pid")" 2>/dev/null || true
    fi
    # The API stops its cluster on exit; make sure of it before removing the directory.
    target/release/shipit-api db stop --pg-dir "$work/pg" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

api=(target/release/shipit-api --pg-dir "$work/pg")
token=$("${api[@]}" token create --name bench --scope 'project:shipit:runs/*' 2>/dev/null)
# Started directly, not through a function, so that $! is the server itself.
SHIPIT_LOG_FORMAT=json RUST_LOG=warn SHIPIT_RUNNER=none "${api[@]}" serve --listen "127.0.0.1:$api_port" >/dev/null 2>&1 &
api_pid=$!
for _ in $(seq 1 50); do curl -fs "http://127.0.0.1:$api_port/__lbheartbeat__" >/dev/null && break; sleep 0.2; done
if ! kill -0 "$api_pid" 2>/dev/null; then
    say "the API did not start (is port $api_port taken?)"
    exit 1
fi

# 500 runs of three bots, some closed, so that the page is realistic.
for i in $(seq 1 500); do
    bot=$(echo coverage uplift risk | cut -d' ' -f$((i % 3 + 1)))
    id=$(curl -fs -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
        -d "{\"bot\":\"$bot\",\"trigger\":\"schedule\",\"parameters\":{\"repository\":\"mozilla-central\",\"revision\":\"$(printf '%040x' "$i")\"}}" \
        "http://127.0.0.1:$api_port/runs" | sed -E 's/^\{"id":([0-9]+).*/\1/')
    if [ $((i % 4)) -ne 0 ]; then
        curl -fs -o /dev/null -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
            -d '{"status":"succeeded","counts":{"items":42}}' "http://127.0.0.1:$api_port/runs/$id/finish"
    fi
done

mkdir -p "$work/www"
curl -fs "http://127.0.0.1:$api_port/runs?limit=50" >"$work/www/runs.json"
cat >"$work/nginx.conf" <<CONF
worker_processes 1;
pid $work/nginx.pid;
error_log $work/nginx.error.log;
events { worker_connections 1024; }
http {
    access_log off;
    types { application/json json; }
    server {
        listen 127.0.0.1:$static_port;
        root $work/www;
    }
}
CONF
/usr/sbin/nginx -c "$work/nginx.conf"
sleep 0.5

measure() { # url -> "requests/s p50 p99"
    wrk -t1 -c"$connections" -d"$duration" --latency "$1" | awk '
        /Requests\/sec/ { rps = $2 }
        /^ +50%/ { p50 = $2 }
        /^ +99%/ { p99 = $2 }
        END { print rps, p50, p99 }'
}
to_ms() { awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n += 0; else if (v ~ /s$/) n *= 1000; printf "%.2f", n }'; }

bytes=$(wc -c <"$work/www/runs.json")
say "warming up"
wrk -t1 -c"$connections" -d3s "http://127.0.0.1:$api_port/runs?limit=50" >/dev/null
read -r api_rps api_p50 api_p99 <<<"$(measure "http://127.0.0.1:$api_port/runs?limit=50")"
read -r static_rps static_p50 static_p99 <<<"$(measure "http://127.0.0.1:$static_port/runs.json")"

printf '\nGET /runs?limit=50 (%s bytes), wrk -t1 -c%s -d%s, %s cores\n\n' "$bytes" "$connections" "$duration" "$(nproc)"
printf '| server | requests/s | p50 ms | p99 ms |\n|---|---:|---:|---:|\n'
printf '| shipit-api (PostgreSQL) | %s | %s | %s |\n' "$api_rps" "$(to_ms "$api_p50")" "$(to_ms "$api_p99")"
printf '| nginx, static file | %s | %s | %s |\n' "$static_rps" "$(to_ms "$static_p50")" "$(to_ms "$static_p99")"
awk -v a="$api_rps" -v s="$static_rps" -v ap="$(to_ms "$api_p99")" -v sp="$(to_ms "$static_p99")" \
    'BEGIN { printf "\nthroughput ratio (api/static): %.3f; p99 ratio (api/static): %.1f\n", a / s, ap / sp }'
