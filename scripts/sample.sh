#!/usr/bin/env bash
# Loads the sample data into a running API: one real run of every bot on the inputs of
# fixtures/sample (recorded upstream answers replayed from files, recorded Pulse messages, a
# repository made by fixtures/sample/make-repository.sh, a patch). The pulse listener replays the
# messages and starts the coverage bot on the push they announce, as in production; the others run
# directly; a release pipeline then waits for its sign-offs. Each run a bot opens itself is labelled with the parameter SAMPLE (the coverage run
# carries the Pulse event's parameters). Nothing is loaded again when the API holds sample runs.
#
# Usage: scripts/sample.sh API_URL TOKEN BIN_DIR   (the token needs project:shipit:*)
# The repository and the artifact cache go to SHIPIT_SAMPLE_DIR (default .shipit/sample).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

api=${1%/}
token=$2
bin=$3
work=${SHIPIT_SAMPLE_DIR:-.shipit/sample}

if sample_loaded "$api"; then
    say "the sample data is loaded already"
    exit 0
fi
say "loading the sample data (fixtures/sample)"
mkdir -p "$work"
bash fixtures/sample/make-repository.sh "$work/repository"
export SHIPIT_API__URL="$api/" SHIPIT_API__TOKEN="$token"
export SHIPIT_CACHE_DIR="$work/coverage-cache" SHIPIT_REPOSITORY__PATH="$work/repository"
SHIPIT_LOCAL_RUNNER__BIN_DIR="$bin" SHIPIT_LOCAL_RUNNER__LOG_DIR="$work/logs" \
    "$bin/pulse-listener" --config fixtures/sample/pulse-listener.toml replay fixtures/sample/pulse/*.json
"$bin/uplift-bot" --config fixtures/sample/uplift.toml run --report "$work/graft-failures.md"
"$bin/static-analysis-bot" --config fixtures/sample/static-analysis.toml check --repo "$work/repository" \
    --base main --patch fixtures/sample/static-analysis.patch --diff-id 1 --revision-id 1 \
    --repository-name sample --format markdown --output "$work/static-analysis.md"
# Every commit of the sample repository scored with a model trained on real history.
sed "s|^path = .*|path = \"$work/repository\"|" fixtures/sample/risk.toml >"$work/risk.toml"
"$bin/risk-bot" run --config "$work/risk.toml" --repository sample \
    --revisions "$(git -C "$work/repository" rev-list --no-merges main | tr '\n' ' ')"
# A release pipeline as release-runner creates one, waiting for its sign-offs.
http_put_json "$api/pipelines/firefox-99.0b1" "$token" fixtures/sample/pipeline.json
say "sample data loaded: $api/runs, $api/ui/pipelines/firefox-99.0b1"
