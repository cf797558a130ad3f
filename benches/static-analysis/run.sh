#!/usr/bin/env bash
# Benchmark of the static-analysis bot on a real codebase, a patch touching 5 of its files
# (3 C, 2 Python when it has them). Three timings, same machine, same run:
#   bot        static-analysis-bot check on the patch (analyzers in parallel, touched files only);
#   sequential the same analyzers, same arguments, run one after another on the touched files;
#   whole      the same analyzers run one after another on the whole codebase.
# The target is "bot" within 10% of "sequential" (better when both cores are busy). Bot and
# sequential runs are interleaved after one warm-up each; medians of REPEAT (default 5) runs.
#
# Usage: bash benches/static-analysis/run.sh SOURCE_DIR [BOT_BINARY]
#   SOURCE_DIR  a C and Python codebase, e.g. `apt-get source python3.11` (needs a deb-src line)
#   BOT_BINARY  default target/release/static-analysis-bot (cargo build --release -p shipit-static-analysis)
set -euo pipefail

source_dir=${1:?usage: run.sh SOURCE_DIR [BOT_BINARY]}
bot=${2:-target/release/static-analysis-bot}
for tool in git clang-tidy clang-format cppcheck flake8 shellcheck; do
    command -v "$tool" >/dev/null || { echo "missing $tool: apt-get install ${tool/git/git}" >&2; exit 1; }
done
[ -x "$bot" ] || { echo "no $bot: cargo build --release -p shipit-static-analysis" >&2; exit 1; }
bot=$(realpath "$bot")

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
repo=$work/repo
cp -a "$source_dir" "$repo"
cd "$repo"
rm -rf .git
git init -q . && git add -A && git -c user.name=bench -c user.email=bench@localhost commit -qm base
base=$(git rev-parse HEAD)

mapfile -t c_files < <(git ls-files '*.c' | head -n 200 | shuf -n 3 --random-source=<(yes))
mapfile -t py_files < <(git ls-files '*.py' | head -n 200 | shuf -n $((5 - ${#c_files[@]})) --random-source=<(yes))
files=("${c_files[@]}" "${py_files[@]}")
for file in "${c_files[@]}"; do printf '\nint bench_added(int x) { int unused = x; x = 2; return 0; }\n' >>"$file"; done
for file in "${py_files[@]}"; do printf '\n\ndef bench_added(x):\n    y=x\n    return undefined_name\n' >>"$file"; done
git add -A && git -c user.name=bench -c user.email=bench@localhost commit -qm patch
head=$(git rev-parse HEAD)
echo "touched: ${files[*]}"

now() { date +%s.%N; }
seconds() { echo "$2 - $1" | bc; }
checks='-*,clang-analyzer-deadcode.DeadStores,clang-analyzer-core.*,clang-analyzer-unix.*,clang-analyzer-security.*,bugprone-*,performance-*,modernize-use-nullptr,readability-else-after-return,readability-misleading-indentation'
analyzers() { # the bot's commands, one process per file as the bot runs them
    for file in "$@"; do
        case $file in
        *.c)
            clang-tidy --quiet "--checks=$checks" "$file" -- >/dev/null 2>&1 || true
            cppcheck --quiet --enable=warning,style,performance,portability --inline-suppr \
                '--template={file}:{line}:{column}:{severity}:{id}:{message}' "$file" >/dev/null 2>&1 || true
            clang-format --style=file --fallback-style=none "$file" >/dev/null 2>&1 || true
            ;;
        esac
    done
    local py=()
    for file in "$@"; do [[ $file == *.py ]] && py+=("$file"); done
    [ ${#py[@]} -eq 0 ] || flake8 '--format=%(path)s:%(row)d:%(col)d:%(code)s:%(text)s' -- "${py[@]}" >/dev/null 2>&1 || true
}

# One untimed run of each first (page cache, the analyzers' own caches), then REPEAT timed runs of
# each, interleaved, so that neither side gets the warm caches the other paid for.
run_bot() { "$bot" check --repo "$repo" --base "$base" --head "$head" --format json -o "$work/report.json" 2>/dev/null; }
run_bot
analyzers "${files[@]}"
bot_times=() sequential_times=()
for _ in $(seq "${REPEAT:-5}"); do
    start=$(now); run_bot; bot_times+=("$(seconds "$start" "$(now)")")
    start=$(now); analyzers "${files[@]}"; sequential_times+=("$(seconds "$start" "$(now)")")
done
median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
bot_time=$(median "${bot_times[@]}")
sequential_time=$(median "${sequential_times[@]}")

mapfile -t all < <(git ls-files '*.c' '*.py')
start=$(now)
timeout "${WHOLE_TIMEOUT:-3600}" bash -c "$(declare -f analyzers); checks='$checks'; analyzers \"\$@\"" _ "${all[@]}" || true
whole_time=$(seconds "$start" "$(now)")

issues=$(python3 -c "import json,sys; a=json.load(open(sys.argv[1])); print(len(a['issues']), sum(i['publishable'] for i in a['issues']))" "$work/report.json")
echo "| run | seconds |"
echo "| --- | --- |"
echo "| bot on the patch (${#files[@]} files, $(nproc) cores), median of ${REPEAT:-5} | $bot_time |"
echo "| same analyzers one after another on the touched files, median of ${REPEAT:-5} | $sequential_time |"
echo "| same analyzers one after another on the whole codebase (${#all[@]} files, timeout ${WHOLE_TIMEOUT:-3600}s) | $whole_time |"
echo "issues found / published: $issues"
