#!/usr/bin/env bash
# Fails, naming them, when modules of a crate of the workspace import each other (no cycles
# between the modules of a crate: ARCHITECTURE.md, Invariants). `--list` prints the cycles
# and exits 0. The check is the `check-module-cycles` program of the tests crate.
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo run --quiet --locked -p shipit-system-tests --bin check-module-cycles -- "$@"
