#!/usr/bin/env bash
# Benchmark of `uplift-bot graft` against the git CLI, same run, same machine: the last COMMITS
# non-merge commits of main, in chains of CHAIN consecutive commits (a bug's patches), each chain
# grafted onto the tips of the branches of BRANCHES (default esr128 esr140 release beta).
#   uplift-bot  one `uplift-bot graft --onto <4 branches> <chain>` per chain (in memory, the four
#               branches in parallel);
#   git         a worktree per branch (made before timing), and per chain `git reset --hard
#               <branch>` then `git cherry-pick` per commit; on a conflict, `--abort` and the rest
#               of the chain is skipped. The four branches run in parallel, one per core.
# Both must give the same verdict per branch and commit, and the same tree when clean; git runs with
# its default settings.
#
# Usage: bash benches/uplift/graft.sh REPO [COMMITS] [CHAIN] [BOT_BINARY]
#   REPO        made by make-repo.sh
#   COMMITS     default 200;  CHAIN  default 4
#   BOT_BINARY  default target/release/uplift-bot (cargo build --release -p shipit-uplift)
# libgit2's history: BRANCHES="maint/v1.7 maint/v1.8 maint/v1.9" bash benches/uplift/graft.sh REPO
# Needs git >= 2.45 (cherry-pick --empty=drop) and GNU time (/usr/bin/time).
set -euo pipefail

repo=$(realpath "${1:?usage: graft.sh REPO [COMMITS] [CHAIN] [BOT_BINARY]}")
count=${2:-200}
chain=${3:-4}
bot=$(realpath "${4:-target/release/uplift-bot}")
read -r -a branches <<<"${BRANCHES:-esr128 esr140 release beta}"
[ -x "$bot" ] || { echo "no $bot: cargo build --release -p shipit-uplift" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "missing GNU time: apt-get install time" >&2; exit 1; }

work=$(mktemp -d)
cleanup() {
    for branch in "${branches[@]}"; do git -C "$repo" worktree remove --force "$work/${branch//\//_}" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT
git -C "$repo" rev-list --no-merges -n "$count" main | tac >"$work/commits"
xargs -n "$chain" <"$work/commits" >"$work/chains"
echo "$(wc -l <"$work/commits") commits in $(wc -l <"$work/chains") chains of $chain, onto ${branches[*]}"

# uplift-bot: "branch commit status [tree]" per line (conflicting paths dropped: compared apart).
onto=()
for branch in "${branches[@]}"; do onto+=(--onto "$branch"); done
export bot repo work
/usr/bin/time -v -o "$work/bot.time" bash -c '
    while read -r -a commits; do
        "$0" graft --repo "$repo" --format text "$@" "${commits[@]}" 2>/dev/null || [ $? -eq 1 ] || exit 2
    done <"$work/chains" >"$work/bot.out"' "$bot" "${onto[@]}"
awk '{ print $1, $2, $3, ($3 == "merged" || $3 == "already_applied") ? $4 : "" }' "$work/bot.out" | sort >"$work/bot.txt"

# git: same semantics, one worktree per branch.
for branch in "${branches[@]}"; do git -C "$repo" worktree add -q --detach "$work/${branch//\//_}" "$branch"; done
pick_branch() {
    local branch=$1 worktree=$work/${1//\//_} before commit failed
    local git=(git -C "$worktree" -c user.name=bench -c user.email=bench@example.com)
    while read -r -a commits; do
        "${git[@]}" reset -q --hard "$branch"
        failed=
        for commit in "${commits[@]}"; do
            if [ -n "$failed" ]; then echo "$branch $commit skipped"; continue; fi
            before=$("${git[@]}" rev-parse HEAD)
            if "${git[@]}" cherry-pick --empty=drop "$commit" >/dev/null 2>&1; then
                if [ "$("${git[@]}" rev-parse HEAD)" = "$before" ]; then status=already_applied; else status=merged; fi
                echo "$branch $commit $status $("${git[@]}" rev-parse 'HEAD^{tree}')"
            elif [ -n "$("${git[@]}" ls-files -u)" ]; then
                echo "$branch $commit failed"
                "${git[@]}" cherry-pick --abort
                failed=1
            else
                echo "git cherry-pick $commit onto $branch failed without a conflict" >&2
                exit 1
            fi
        done
    done <"$work/chains" >"$work/git-${branch//\//_}.out"
}
export -f pick_branch
/usr/bin/time -v -o "$work/git.time" bash -c \
    'printf "%s\n" "$@" | xargs -P "$(nproc)" -I{} bash -c "pick_branch {}"' _ "${branches[@]}"
cat "$work"/git-*.out | awk '{ print $1, $2, $3, $4 }' | sort >"$work/git.txt"

figure() { # file, GNU time label
    grep -F "$2" "$1" | awk -F': ' '{ print $2 }'
}
seconds() { # wall clock [h:]mm:ss.cc
    awk -F: '{ s = 0; for (i = 1; i <= NF; i++) s = s * 60 + $i; print s }' <<<"$1"
}
row() { # name, time file
    local wall cpu rss
    wall=$(seconds "$(figure "$2" 'Elapsed (wall clock)')")
    cpu=$(echo "$(figure "$2" 'User time') + $(figure "$2" 'System time')" | bc)
    rss=$(($(figure "$2" 'Maximum resident set size') / 1024))
    printf '| %-16s | %10.2f | %10.2f | %13d |\n' "$1" "$wall" "$cpu" "$rss"
    echo "$wall $cpu" >"$2.sum"
}
echo
echo "| tool             |     wall s |      CPU s | peak RSS MiB |"
echo "|------------------|------------|------------|---------------|"
row "uplift-bot graft" "$work/bot.time"
row "git cherry-pick" "$work/git.time"
read -r bot_wall bot_cpu <"$work/bot.time.sum"
read -r git_wall git_cpu <"$work/git.time.sum"
printf 'speed-up: %.1fx wall, %.1fx CPU\n' "$(echo "$git_wall / $bot_wall" | bc -l)" "$(echo "$git_cpu / $bot_cpu" | bc -l)"
echo "verdicts: $(awk '{ print $3 }' "$work/bot.txt" | sort | uniq -c | awk '{ printf "%s %s, ", $2, $1 }')"
if diff -u "$work/git.txt" "$work/bot.txt" >"$work/diff"; then
    echo "same verdicts and trees as git: yes ($(wc -l <"$work/bot.txt") grafts)"
else
    echo "same verdicts and trees as git: NO"
    head -40 "$work/diff"
    exit 1
fi
