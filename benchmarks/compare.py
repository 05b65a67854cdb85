"""Compare two runs of ``benchmarks/run.py --json``: one line per goal.

    python benchmarks/compare.py before.json after.json

Prints each goal's ratio in both runs, the change (after / before; for
"faster" goals, where a larger ratio is better, an improvement shows as > 1
there and < 1 elsewhere) and whether the goal held in each. Exit 0; the
comparison is for reading, machines are noisy.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def load(path: str) -> dict[str, dict]:
    doc = json.loads(Path(path).read_text())
    return {g["work"]: g for g in doc["goals"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before")
    parser.add_argument("after")
    args = parser.parse_args()
    a, b = load(args.before), load(args.after)
    works = list(a) + [w for w in b if w not in a]
    rows = [["work", "goal", "ratio A", "ratio B", "B / A", "met A", "met B"]]
    for work in works:
        ga, gb = a.get(work), b.get(work)
        ra = f"{ga['ratio']:.2f}x" if ga else "-"
        rb = f"{gb['ratio']:.2f}x" if gb else "-"
        change = f"{gb['ratio'] / ga['ratio']:.2f}" if ga and gb and ga["ratio"] else "-"
        met_a = ("yes" if ga["met"] else "NO") if ga else "-"
        met_b = ("yes" if gb["met"] else "NO") if gb else "-"
        rows.append([work, (ga or gb)["goal"], ra, rb, change, met_a, met_b])
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for n, r in enumerate(rows):
        print("| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |")
        if n == 0:
            print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    both = [w for w in works if w in a and w in b and a[w]["met"] and b[w]["met"]]
    print(f"\nheld in both runs: {len(both)} of {len(works)}")


if __name__ == "__main__":
    main()
