#!/usr/bin/env python3
"""Where a collective's frames spend their time: reads the files that -Dtessera.comm.trace=DIR
makes every rank write (DIR/rank-N.tsv, docs/comm.md#tracing) and prints, for each size of frame,
the median and 90th percentile of the time between a frame's stages, its sender's and its
receiver's marks side by side (System.nanoTime is one clock for every process of a host).

    tools/comm-trace.py DIR [--skip-steps N]
"""
import argparse
import collections
import csv
import glob
import os
import statistics
import sys

STAGES = ["SUBMIT", "ENCODE", "SERIALISE", "HANDED", "READ", "DELIVERED", "WAIT", "RECEIVED", "ADDED"]


def quantile(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dir")
    ap.add_argument("--skip-steps", type=int, default=2, help="leave out steps below this (warm-ups); default 2")
    ap.add_argument("--steps", help="only steps A-B (inclusive), e.g. those of one size in bench/run allreduce")
    args = ap.parse_args()
    lo, hi = map(int, args.steps.split("-")) if args.steps else (0, 0)
    files = sorted(glob.glob(os.path.join(args.dir, "rank-*.tsv")))
    if not files:
        sys.exit(f"comm-trace: no rank-*.tsv in {args.dir} (run with -Dtessera.comm.trace={args.dir})")
    frames = collections.defaultdict(dict)  # (source, destination, group, tag, step) -> {stage: nanos}
    sizes = {}
    for f in files:
        with open(f) as fh:
            for row in csv.DictReader(fh, delimiter="\t"):
                step = int(row["step"])
                if step < args.skip_steps or (args.steps and not lo <= step <= hi):
                    continue
                key = (int(row["source"]), int(row["destination"]), int(row["group"]), int(row["tag"]), step)
                frames[key].setdefault(row["stage"], int(row["nanos"]))
                if row["stage"] in ("SUBMIT", "DELIVERED"):
                    sizes[key] = int(row["bytes"])
    by_size = collections.defaultdict(list)
    for key, marks in frames.items():
        by_size[sizes.get(key, -1)].append(marks)
    for size in sorted(by_size):
        group = by_size[size]
        print(f"frames of {size} payload bytes: {len(group)}")
        pairs = [(a, b) for a, b in zip(STAGES, STAGES[1:]) if a != "DELIVERED"]
        pairs += [("DELIVERED", "RECEIVED"), ("SUBMIT", "DELIVERED"), ("SUBMIT", "ADDED")]
        for a, b in pairs:
            d = [(m[b] - m[a]) / 1e3 for m in group if a in m and b in m]
            if d:
                print(f"  {a:>9} -> {b:<9} median {statistics.median(d):9.1f} us   p90 {quantile(d, 0.9):9.1f} us"
                      f"   ({len(d)})")
        early = [m for m in group if "WAIT" in m and "DELIVERED" in m]
        if early:
            waiting = sum(1 for m in early if m["WAIT"] < m["DELIVERED"])
            print(f"  the collective was already waiting for {waiting} of {len(early)} frames")
    # Whole collectives: from the first frame handed over to the last one added, by (group, op, step).
    spans = collections.defaultdict(lambda: [None, None])
    for (src, dst, grp, tag, step), marks in frames.items():
        if "SUBMIT" in marks and "ADDED" in marks:
            s = spans[(grp, tag >> 24, step)]
            s[0] = marks["SUBMIT"] if s[0] is None else min(s[0], marks["SUBMIT"])
            s[1] = marks["ADDED"] if s[1] is None else max(s[1], marks["ADDED"])
    if spans:
        d = [(b - a) / 1e3 for a, b in spans.values()]
        print(f"collectives: {len(d)}, first frame handed over to last added: median {statistics.median(d):.1f} us,"
              f" p90 {quantile(d, 0.9):.1f} us")


if __name__ == "__main__":
    main()
