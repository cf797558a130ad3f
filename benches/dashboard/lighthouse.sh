#!/usr/bin/env bash
# Lighthouse (npm `lighthouse`, pinned in benches/dashboard/lighthouse/) with the Debian Chromium on
# the dashboard's home, coverage and uplift pages of a running API holding the sample data (what
# `bash scripts/up.sh` serves): the performance and accessibility scores of each page, desktop
# settings, no throttling of this machine's loopback.
#
#   bash benches/dashboard/lighthouse.sh [API_URL]      # default http://127.0.0.1:8000
#
# Target: at least 95 for both scores on each page.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/lib.sh

api=${1:-http://127.0.0.1:8000}
api=${api%/}
ensure_programs_installed chromium:chromium node:nodejs npm:npm
wait_for_api "$api" 10 || { say "no API answers at $api: start it with bash scripts/up.sh"; exit 1; }
npm ci --prefix benches/dashboard/lighthouse --no-audit --no-fund --loglevel=error >/dev/null
lighthouse=benches/dashboard/lighthouse/node_modules/.bin/lighthouse
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
channel=$(http_get "$api/uplift/channels" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const c=JSON.parse(s);console.log(c.length?c[0].name:"")})')
pages=("home /ui/" "coverage /ui/coverage?repository=mozilla-central" "uplift /ui/uplift")
if [ -n "$channel" ]; then
    pages+=("uplift-channel /ui/uplift/channels/$channel")
fi
echo "| page | performance | accessibility | first contentful paint ms | total blocking time ms |"
echo "| --- | ---: | ---: | ---: | ---: |"
for page in "${pages[@]}"; do
    name=${page%% *}
    path=${page#* }
    CHROME_PATH=$(command -v chromium) "$lighthouse" "$api$path" --quiet --preset=desktop \
        --only-categories=performance,accessibility --output=json --output-path="$out/$name.json" \
        --chrome-flags="--headless=new --no-sandbox --disable-gpu" >/dev/null 2>"$out/$name.log" ||
        { cat "$out/$name.log" >&2; exit 1; }
    node -e '
        const r = require(process.argv[1]);
        const score = (c) => Math.round(r.categories[c].score * 100);
        const ms = (a) => Math.round(r.audits[a].numericValue);
        console.log(`| ${process.argv[2]} | ${score("performance")} | ${score("accessibility")} | ${ms("first-contentful-paint")} | ${ms("total-blocking-time")} |`);
    ' "$out/$name.json" "$path"
done
