#!/usr/bin/env python3
"""Generates a mozilla-central-like set of lcov chunk files for benchmarking `coverage-bot merge`.

At --scale 1.0: about 20,000 source files and 3.5M instrumented lines, spread over --chunks
tracefiles (default 120) that each cover an overlapping random subset of the files, like the
per-test-suite chunks of a mozilla-central coverage run (roughly 2 GB in total at scale 1.0 with the
default --share). Hit counts follow a skewed distribution with many zeros. Deterministic for a seed.

    benches/coverage/generate.py --scale 0.1 --out /tmp/cov-bench
"""

import argparse
import os
import random

TOP_DIRS = ["dom", "js/src", "layout", "netwerk", "gfx", "toolkit", "xpcom", "security", "media", "browser",
            "widget", "editor", "image", "ipc", "mfbt", "modules", "parser", "storage", "intl", "accessible"]
SUB_DIRS = ["base", "ipc", "jit", "gc", "style", "generic", "tests", "components", "src", "public", "platform",
            "canvas", "webgpu", "cache", "threads", "io", "xul", "shared", "workers", "html"]
EXTS = [".cpp"] * 6 + [".h"] * 3 + [".js", ".jsm", ".c"]


def hits(rng):
    r = rng.random()
    if r < 0.38:
        return 0
    if r < 0.75:
        return rng.randint(1, 50)
    if r < 0.97:
        return rng.randint(51, 100_000)
    return rng.randint(100_001, 50_000_000)


def make_files(rng, count, lines_per_file):
    files = []
    seen = set()
    while len(files) < count:
        depth = rng.randint(1, 3)
        path = "/".join([rng.choice(TOP_DIRS)] + [rng.choice(SUB_DIRS) for _ in range(depth)])
        path += f"/{rng.choice('abcdefghijklmnopqrstuvwxyz')}{rng.randint(0, 99999)}{rng.choice(EXTS)}"
        if path in seen:
            continue
        seen.add(path)
        # Instrumented lines: a skewed size distribution around the mean, about 1 in 2 source
        # lines instrumented.
        n = max(1, int(rng.expovariate(1.0 / lines_per_file)))
        lines = sorted(rng.sample(range(1, 2 * n + 10), n))
        functions = [(lines[i], f"_ZN7mozilla{len(path)}fn{i}Ev") for i in range(0, n, 17)]
        branches = [lines[i] for i in range(3, n, 11)]
        files.append((path, lines, functions, branches))
    return files


def render(rng, path, lines, functions, branches):
    out = [f"SF:{path}\n"]
    fn_hits = [hits(rng) for _ in functions]
    out.extend(f"FN:{line},{name}\n" for line, name in functions)
    out.extend(f"FNDA:{h},{name}\n" for h, (_, name) in zip(fn_hits, functions))
    out.append(f"FNF:{len(functions)}\nFNH:{sum(1 for h in fn_hits if h)}\n")
    for line in branches:
        taken = hits(rng)
        out.append(f"BRDA:{line},0,0,{taken}\nBRDA:{line},0,1,{'-' if taken == 0 else hits(rng)}\n")
    out.append(f"BRF:{2 * len(branches)}\nBRH:0\n")
    values = [hits(rng) for _ in lines]
    out.append("".join(f"DA:{line},{h}\n" for line, h in zip(lines, values)))
    out.append(f"LF:{len(lines)}\nLH:{sum(1 for h in values if h)}\nend_of_record\n")
    return "".join(out)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0, help="1.0 = 20,000 files, 3.5M lines")
    parser.add_argument("--chunks", type=int, default=120)
    parser.add_argument("--share", type=float, default=0.35, help="fraction of the files each chunk covers")
    parser.add_argument("--variants", type=int, default=3,
                        help="distinct hit patterns per file (pre-rendered, so generation stays I/O bound)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    rng = random.Random(args.seed)
    files = make_files(rng, max(1, int(20_000 * args.scale)), 175)
    variants = [[render(rng, *f) for _ in range(args.variants)] for f in files]
    os.makedirs(args.out, exist_ok=True)
    total = 0
    for chunk in range(args.chunks):
        picked = sorted(rng.sample(range(len(files)), max(1, int(len(files) * args.share))))
        text = "".join(rng.choice(variants[i]) for i in picked)
        with open(os.path.join(args.out, f"chunk-{chunk:03}.info"), "w") as f:
            f.write("TN:\n")
            f.write(text)
        total += len(text)
    lines = sum(len(f[1]) for f in files)
    print(f"{len(files)} files, {lines} instrumented lines, {args.chunks} chunks, {total / 1e6:.0f} MB in {args.out}")


if __name__ == "__main__":
    main()
