#!/usr/bin/env bash
# Brings the system up on this machine: installs what is missing, builds, and serves the API on
# its own PostgreSQL (or DATABASE_URL when set), printing the URLs to open. Ctrl-C stops it all.
#
# Arguments are passed to `shipit-api serve` (e.g. --listen 0.0.0.0:8000).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

require_cargo
if [ -z "${DATABASE_URL:-}" ]; then
    ensure_postgres_installed
fi
say "building (release)"
cargo build --release --locked --bins
say "starting the API"
exec "${CARGO_TARGET_DIR:-target}/release/shipit-api" serve "$@"
