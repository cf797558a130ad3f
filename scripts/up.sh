#!/usr/bin/env bash
# Brings the system up on this machine: installs what is missing, builds, serves the API on its
# own PostgreSQL (or DATABASE_URL when set), loads the sample data (a real run of the bots on
# fixtures/sample; skipped with --no-sample or SHIPIT_SAMPLE=0, and when loaded already) and
# prints the URLs to open. Ctrl-C stops it all.
#
# Other arguments are passed to `shipit-api serve` (e.g. --listen 0.0.0.0:8000).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

sample=${SHIPIT_SAMPLE:-1}
listen=${SHIPIT_LISTEN:-127.0.0.1:8000}
serve_args=()
while [ $# -gt 0 ]; do
    case $1 in
        --no-sample) sample=0 ;;
        --listen) listen=$2; serve_args+=("$1" "$2"); shift ;;
        --listen=*) listen=${1#--listen=}; serve_args+=("$1") ;;
        *) serve_args+=("$1") ;;
    esac
    shift
done

require_cargo
require_git_for_grafts
if [ -z "${DATABASE_URL:-}" ]; then
    ensure_postgres_installed
fi
if [ "$sample" != 0 ]; then
    # The sample static analysis runs flake8 and shellcheck.
    ensure_programs_installed flake8:flake8 shellcheck:shellcheck
fi
say "building (release)"
cargo build --release --locked --bins
bin=${CARGO_TARGET_DIR:-target}/release

local_url="http://${listen/0.0.0.0/127.0.0.1}"
# Another API on the address would be taken for this one, and get the sample data.
if http_get "$local_url/__lbheartbeat__" >/dev/null 2>&1; then
    say "something already answers on $local_url: stop it, or choose another address (--listen HOST:PORT)"
    exit 1
fi
say "starting the API"
"$bin/shipit-api" serve ${serve_args[@]+"${serve_args[@]}"} &
api_pid=$!
trap 'kill -TERM "$api_pid" 2>/dev/null; wait "$api_pid" 2>/dev/null || true' EXIT INT TERM
if ! wait_for_api "$local_url" 120 "$api_pid"; then
    say "the API did not come up: see its log above"
    exit 1
fi
# The token that loads the sample is revoked once it is loaded (or left by a load that failed).
revoke_sample_tokens() {
    "$bin/shipit-api" token list 2>/dev/null | awk '$2 == "sample-data" && $3 == "active" { print $1 }' |
        while read -r id; do "$bin/shipit-api" token revoke "$id" >/dev/null 2>&1; done
}
if [ "$sample" != 0 ]; then
    if sample_loaded "$local_url"; then
        say "the sample data is loaded already"
    else
        revoke_sample_tokens
        token=$("$bin/shipit-api" token create --name sample-data --scope 'project:shipit:*' --expires 1h | tail -n 1)
        bash scripts/sample.sh "$local_url" "$token" "$bin"
        revoke_sample_tokens
    fi
fi
say "dashboard:  $local_url/ui/   (sign in with a token: shipit-api token create; to sign off: shipit-api user create)"
say "the API:    $local_url/"
say "runs:       $local_url/runs"
say "coverage:   $local_url/coverage/latest?repository=mozilla-central"
say "uplift:     $local_url/uplift/channels"
say "OpenAPI:    $local_url/openapi.json"
say "Ctrl-C stops the API"
wait "$api_pid"
