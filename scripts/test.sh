#!/usr/bin/env bash
# Runs every check and test of the workspace: formatting, lints, unit and integration tests.
#
# Tests need a PostgreSQL server: SHIPIT_TEST_DATABASE_URL when set (a superuser URL, e.g.
# postgresql://postgres@127.0.0.1:5432/postgres), otherwise a private cluster in
# target/shipit-test-pg (under CARGO_TARGET_DIR when set) that this script stops at the end. The static-analysis tests run the real
# analyzers, installed here with apt-get when missing, and the pulse listener's a real RabbitMQ on
# 127.0.0.1:5672, started here when it does not answer; the dashboard's browser tests Debian's
# Chromium and chromedriver, and axe-core (npm ci in tests/dashboard). Nothing else needs configuring.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

require_cargo
require_git_for_grafts
ensure_postgres_installed
ensure_analyzers_installed
ensure_rabbitmq_running
ensure_browser_tests_ready

target_dir=${CARGO_TARGET_DIR:-target}
stop_test_cluster() {
    if [ -f "$target_dir/shipit-test-pg/PG_VERSION" ] && [ -x "$target_dir/debug/shipit-api" ]; then
        "$target_dir/debug/shipit-api" db stop --pg-dir "$target_dir/shipit-test-pg" || true
    fi
}
trap stop_test_cluster EXIT

say "cargo fmt --check"
cargo fmt --all --check
say "module cycles"
scripts/check-module-cycles.sh
say "cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
say "cargo test"
cargo test --workspace --locked
