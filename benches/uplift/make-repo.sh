#!/usr/bin/env bash
# Generates the benchmark repository of graft.sh: a bare git repository with `main` (COMMITS
# commits over FILES files) and BRANCHES release branches (esr128, esr140, release, beta, and with
# 6 also esr102 and esr115) forked at different depths, each with commits of its own. Built with
# git fast-import from gen-repo.py.
#
# Usage: bash benches/uplift/make-repo.sh DIR [COMMITS] [FILES] [BRANCHES]   (default 100000 20000 4)
# Firefox's size: make-repo.sh DIR 1000000 300000 6 (1 h 12 min on 2 busy cores, 2.1 GB of memory, a
# 1.4 GB pack).
set -euo pipefail

dir=${1:?usage: make-repo.sh DIR [COMMITS] [FILES]}
commits=${2:-100000}
files=${3:-20000}
branches=${4:-4}
[ ! -e "$dir" ] || { echo "$dir already exists" >&2; exit 1; }
here=$(dirname "$(realpath "$0")")

git init -q --bare -b main "$dir"
python3 "$here/gen-repo.py" "$commits" "$files" "$branches" | git -C "$dir" fast-import --quiet
git -C "$dir" count-objects -vH | grep -E '^(count|size-pack)'
for branch in $(git -C "$dir" for-each-ref --format='%(refname:short)' refs/heads); do
    printf '%-8s %7d commits\n' "$branch" "$(git -C "$dir" rev-list --count "$branch")"
done
printf 'files on main: %d\n' "$(git -C "$dir" ls-tree -r --name-only main | wc -l)"
