#!/usr/bin/env python3
"""Writes a `git fast-import` stream of a synthetic mozilla-like history to stdout.

`main` gets COMMITS commits on top of a first commit of FILES text files (40 lines each, in
20 top directories of 20 subdirectories; above 50,000 files, a third level of 20, so that a
directory holds at most a few hundred files, as in Firefox). Most commits rewrite one to three lines of one or two
files; a few add, delete or rename (move) a file. BRANCHES (4 or 6) release branches fork from `main` at
different depths and get commits of their own:
  - "uplifts": the line edits of later `main` commits, replayed as they are (so grafting that
    main commit again is already applied, or conflicts if the context moved);
  - local fixes: line edits of their own, some on the files the last 300 main commits touch (so a
    few grafts of those conflict).
Deterministic (seeded): the same arguments give the same repository.

Usage: gen-repo.py [COMMITS] [FILES] [BRANCHES] | git fast-import
"""

import random
import sys

COMMITS = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
FILES = int(sys.argv[2]) if len(sys.argv) > 2 else 20_000
BRANCH_COUNT = int(sys.argv[3]) if len(sys.argv) > 3 else 4
LINES = 40
# branch name, fork depth (share of main's commits before its tip), own commits
BRANCHES = [("esr128", 0.4, 300), ("esr140", 0.15, 200), ("release", 0.04, 120), ("beta", 0.015, 80)]
if BRANCH_COUNT == 6:
    BRANCHES = [("esr102", 0.7, 400), ("esr115", 0.55, 350)] + BRANCHES
elif BRANCH_COUNT != 4:
    sys.exit("BRANCHES is 4 or 6")
LEVELS = 2 if FILES <= 50_000 else 3
WORDS = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho sigma".split()

rng = random.Random(20240601)
out = sys.stdout.buffer
time = 1_600_000_000


def data(payload: bytes) -> None:
    out.write(b"data %d\n" % len(payload))
    out.write(payload)
    out.write(b"\n")


def commit(ref: str, mark: int, parent: int | None, message: str, changes: list, author: str = "bench") -> None:
    """changes: ("M", path, lines) | ("D", path) | ("R", old, new)."""
    global time
    time += 60
    out.write(b"commit %s\nmark :%d\n" % (ref.encode(), mark))
    out.write(b"author %s <%s@example.com> %d +0000\n" % (author.encode(), author.encode(), time))
    out.write(b"committer Bench <bench@example.com> %d +0000\n" % time)
    data(message.encode())
    if parent is not None:
        out.write(b"from :%d\n" % parent)
    for change in changes:
        if change[0] == "M":
            out.write(b"M 100644 inline %s\n" % change[1].encode())
            data(("\n".join(change[2]) + "\n").encode())
        elif change[0] == "D":
            out.write(b"D %s\n" % change[1].encode())
        else:
            out.write(b"R %s %s\n" % (change[1].encode(), change[2].encode()))


def new_path(number: int) -> str:
    third = f"t{number // 400 % 20:02}/" if LEVELS == 3 else ""
    return f"d{number % 20:02}/s{number // 20 % 20:02}/{third}file{number}.txt"


def new_file(number: int) -> tuple:
    return tuple(f"{number} {line} {' '.join(rng.choices(WORDS, k=5))}" for line in range(LINES))


def line_edits(files: dict, paths: list, tag: str) -> tuple[list, list]:
    """Rewrites 1-3 nearby lines of 1-2 files; returns the fast-import changes and the edits."""
    changes, edits = [], []
    for path in rng.sample(paths, rng.choice((1, 1, 2))):
        lines = list(files[path])
        first = rng.randrange(LINES - 3)
        for line in range(first, first + rng.randint(1, 3)):
            lines[line] = f"{tag} {line} {' '.join(rng.choices(WORDS, k=5))}"
            edits.append((path, line, lines[line]))
        files[path] = tuple(lines)
        changes.append(("M", path, files[path]))
    return changes, edits


def main_message(index: int) -> str:
    """Messages name bugs as Firefox's do: the last 900 commits are the patches of 300 bugs
    (1500000 + n, three commits each, the uplift run benchmark's bugs); older ones belong to
    bugs of five commits each."""
    recent = index - (COMMITS - 900)
    bug = 1_500_000 + recent // 3 if recent >= 0 else 1_000_000 + index // 5
    return f"Bug {bug} - main change {index} r=dev{(index + 7) % 50}"


files = {new_path(number): new_file(number) for number in range(FILES)}
commit("refs/heads/main", 1, None, "initial import", [("M", path, lines) for path, lines in files.items()])
paths = sorted(files)
next_number = FILES
forks = {COMMITS - int(COMMITS * depth): name for name, depth, _ in BRANCHES}
snapshots, main_edits = {}, {}
for index in range(1, COMMITS):
    kind = rng.random()
    if kind < 0.004:
        path = new_path(next_number)
        files[path] = new_file(next_number)
        next_number += 1
        paths.append(path)
        changes = [("M", path, files[path])]
    elif kind < 0.005 and len(paths) > FILES // 2:
        path = paths.pop(rng.randrange(len(paths)))
        del files[path]
        changes = [("D", path)]
    elif kind < 0.006:
        old = paths.pop(rng.randrange(len(paths)))
        path = f"moved/{old}"
        files[path] = files.pop(old)
        paths.append(path)
        changes = [("R", old, path)]
    else:
        changes, main_edits[index] = line_edits(files, paths, f"main{index}")
    commit("refs/heads/main", index + 1, index, main_message(index), changes, f"dev{index % 50}")
    if index in forks:
        snapshots[forks[index]] = (index, dict(files))
commit_mark = COMMITS + 1

# The files the last 300 main commits edit, and those edits, for conflicts and uplifts.
recent = [index for index in range(COMMITS - 300, COMMITS) if index in main_edits]
recent_paths = sorted({path for index in recent for path, _, _ in main_edits[index]})
for name, depth, own in BRANCHES:
    fork, branch_files = snapshots[name]
    parent = fork + 1
    branch_paths = sorted(branch_files)
    for number in range(own):
        kind = rng.random()
        if kind < 0.3:
            # An uplift: a main commit after the fork, its line edits replayed verbatim.
            source = rng.choice(recent if kind < 0.15 else [i for i in range(fork + 1, COMMITS) if i in main_edits])
            touched = {}
            for path, line, text in main_edits[source]:
                if path in branch_files:
                    lines = touched.setdefault(path, list(branch_files[path]))
                    lines[line] = text
            if not touched:
                continue
            changes = []
            for path, lines in touched.items():
                branch_files[path] = tuple(lines)
                changes.append(("M", path, branch_files[path]))
            message = f"{name} uplift of main change {source}"
        else:
            pool = [p for p in recent_paths if p in branch_files] if kind < 0.4 else []
            changes, _ = line_edits(branch_files, pool or branch_paths, f"{name}{number}")
            message = f"{name} fix {number}"
        commit_mark += 1
        commit(f"refs/heads/{name}", commit_mark, parent, message, changes)
        parent = commit_mark
    if parent == fork + 1:
        out.write(b"reset refs/heads/%s\nfrom :%d\n\n" % (name.encode(), parent))
out.write(b"done\n")
