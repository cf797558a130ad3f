#!/usr/bin/env bash
# Graft parity with `git cherry-pick` on libgit2's real history, in full: the integration test
# real_history with the 200 newest commits of main each maintenance branch lacks (the test alone
# takes 30), one by one, in chains of 4 and as one chain. Prints the verdict counts per branch.
# Scratch clones go to /dev/shm when there is one (a checkout of 12,000 files per clone).
#
# Usage: bash benches/uplift/parity.sh [COMMITS]    (default 200; SHIPIT_REAL_REPOS as in the test)
set -euo pipefail
cd "$(dirname "$0")/../.."
[ -d /dev/shm ] && export TMPDIR=/dev/shm
SHIPIT_REAL_REPOS_COMMITS=${1:-200} cargo test --locked -p shipit-uplift --test integration \
    real_history -- --nocapture 2>&1 | grep -E '^(maint|skipped|test |.*differences)'
