#!/usr/bin/env python3
"""A synthetic git history for the features benchmark, written with `git fast-import`: COMMITS
commits by 40 authors over 8 years, each changing 1 to 4 files of 400 C files in 20 directories
(a few lines replaced, added or deleted per file; every 50th commit adds a file). Deterministic
(seeded).

Usage: python3 benches/risk/gen-repo.py DIR [COMMITS]
"""
import os
import random
import subprocess
import sys

def main():
    target = sys.argv[1]
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 100_000
    rng = random.Random(13)
    subprocess.run(["git", "init", "--quiet", "--bare", target], check=True)
    subprocess.run(["git", "-C", target, "symbolic-ref", "HEAD", "refs/heads/main"], check=True)
    files = {}
    def new_file(index):
        path = f"dir{index % 20:02d}/file{index:04d}.c"
        files[path] = [f"int v{index}_{line} = {line};\n" for line in range(rng.randint(20, 400))]
        return path
    for index in range(400):
        new_file(index)
    authors = [f"Dev {n} <dev{n}@example.com>" for n in range(40)]
    start = 1_500_000_000
    step = (8 * 365 * 86_400) // count
    proc = subprocess.Popen(["git", "-C", target, "fast-import", "--quiet", "--done"], stdin=subprocess.PIPE)
    out = proc.stdin
    def data(text):
        raw = text.encode()
        out.write(b"data %d\n" % len(raw))
        out.write(raw)
        out.write(b"\n")
    # The first commit holds every file.
    out.write(b"commit refs/heads/main\nmark :1\n")
    out.write(f"author {authors[0]} {start} +0000\ncommitter {authors[0]} {start} +0000\n".encode())
    data("Initial import")
    for path, lines in files.items():
        out.write(f"M 100644 inline {path}\n".encode())
        data("".join(lines))
    next_file = 400
    for n in range(2, count + 1):
        when = start + n * step
        author = authors[min(int(rng.expovariate(0.15)), 39)]
        changed = []
        if n % 50 == 0:
            changed.append(new_file(next_file))
            next_file += 1
        for path in rng.sample(sorted(files), rng.randint(1, 4)) if n % 7 else rng.sample(sorted(files), 1):
            lines = files[path]
            for _ in range(rng.randint(1, 3)):
                at = rng.randrange(len(lines)) if lines else 0
                kind = rng.random()
                if kind < 0.5 and lines:
                    lines[at] = f"int c{n}_{at} = {rng.randint(0, 999)};\n"
                elif kind < 0.8:
                    lines[at:at] = [f"int a{n}_{k} = {k};\n" for k in range(rng.randint(1, 12))]
                elif len(lines) > 5:
                    del lines[at:at + rng.randint(1, 4)]
            changed.append(path)
        subject = rng.choice(["Fix a crash in", "Add support for", "Tidy", "Update", "Fix the parsing of"])
        out.write(f"commit refs/heads/main\nmark :{n}\n".encode())
        out.write(f"author {author} {when} +0000\ncommitter {author} {when} +0000\n".encode())
        data(f"{subject} {changed[0]}")
        out.write(f"from :{n - 1}\n".encode())
        for path in dict.fromkeys(changed):
            out.write(f"M 100644 inline {path}\n".encode())
            data("".join(files[path]))
    out.write(b"done\n")
    out.close()
    if proc.wait() != 0:
        sys.exit("git fast-import failed")
    subprocess.run(["git", "-C", target, "gc", "--quiet"], check=True)

if __name__ == "__main__":
    main()
