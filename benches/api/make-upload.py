#!/usr/bin/env python3
"""Writes a coverage upload (the JSON body of POST /coverage/reports) shaped like a mozilla-central
report: FILES source files in nested directories, LINES lines each (a third of them not
instrumented), hit counts skewed towards zero, totals consistent. Deterministic.

    benches/api/make-upload.py FILES LINES OUT.json
"""

import json
import random
import sys

from importlib import util

spec = util.spec_from_file_location("generate", __file__.replace("api/make-upload.py", "coverage/generate.py"))
generate = util.module_from_spec(spec)
spec.loader.exec_module(generate)


def main():
    files, lines, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    rng = random.Random(1)
    root = {"children": {}}
    paths = set()
    while len(paths) < files:
        depth = rng.randint(1, 3)
        path = [rng.choice(generate.TOP_DIRS)] + [rng.choice(generate.SUB_DIRS) for _ in range(depth)]
        path = "/".join(path).split("/")
        path.append(f"{rng.choice('abcdefghijklmnopqrstuvwxyz')}{rng.randint(0, 99999)}{rng.choice(generate.EXTS)}")
        paths.add(tuple(path))
    for path in sorted(paths):
        node = root
        for part in path[:-1]:
            node = node["children"].setdefault(part, {"children": {}})
        coverage = [-1 if rng.random() < 0.33 else generate.hits(rng) for _ in range(lines)]
        node["children"][path[-1]] = {"coverage": coverage}

    def totals(name, node):
        if "coverage" in node:
            total = sum(1 for hits in node["coverage"] if hits >= 0)
            covered = sum(1 for hits in node["coverage"] if hits > 0)
        else:
            total = covered = 0
            for child_name, child in node["children"].items():
                t, c = totals(child_name, child)
                total, covered = total + t, covered + c
        node.update(name=name, linesTotal=total, linesCovered=covered, linesMissed=total - covered,
                    coveragePercent=round(covered / total * 100, 2) if total else 0.0)
        return total, covered

    totals("", root)
    upload = {"repository": "mozilla-central", "revision": "a" * 40, "push_id": 1,
              "push_date": "2026-01-01T00:00:00Z", "suite": "all", "platform": "all", "covdir": root,
              "zero_coverage": []}
    with open(out, "w") as output:
        json.dump(upload, output, separators=(",", ":"))


main()
