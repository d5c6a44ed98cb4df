"""Compare every pair of Fadul cartridge cases through the Python package and print the
ROC AUC of the CMC count (ground truth: the manifest's firearm_id).

    PYTHONPATH=python IBEX_LIBRARY=build/libibex.so /usr/bin/python3 examples/fadul_auc.py
    (40 scans, 780 pairs; --max-scans N for the first N scans, --data DIR for the data)
"""
import argparse
import itertools
import os
import sys
import time

import numpy as np

import ibex


def auc(scores, same):
    """Probability that a same-source pair outscores a different-source one (ties half):
    the Mann-Whitney statistic from mid-ranks."""
    s, y = np.asarray(scores, float), np.asarray(same, bool)
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(len(s))
    sorted_s = s[order]
    i = 0
    while i < len(s):
        j = i
        while j + 1 < len(s) and sorted_s[j + 1] == sorted_s[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    n1, n0 = y.sum(), (~y).sum()
    return (ranks[y].sum() - n1 * (n1 + 1) / 2) / (n1 * n0)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=os.environ.get("IBEX_DATA") or os.environ.get(
        "IBEX_DATA_DEFAULT") or os.path.join(os.path.dirname(__file__), "..", "..", "shared",
                                             "datasets", "real"))
    ap.add_argument("--max-scans", type=int, default=0, help="only the first N scans")
    ap.add_argument("--check", action="store_true",
                    help="exit 1 unless both classes occur and the AUC is above 0.5")
    args = ap.parse_args()
    manifest = os.path.join(args.data, "MANIFEST.tsv")
    if not os.path.isfile(manifest):
        print(f"SKIP: {manifest} not found (--data DIR or IBEX_DATA)")
        return 77
    scans = [r for r in ibex.read_manifest(manifest, kind="cartridge") if r["set"] == "fadul"]
    if args.max_scans:
        scans = scans[:args.max_scans]
    surfaces = [ibex.read(r["path"]) for r in scans]
    scores, same, t0 = [], [], time.time()
    pairs = list(itertools.combinations(range(len(scans)), 2))
    for k, (i, j) in enumerate(pairs, 1):
        r = ibex.compare_cartridges(surfaces[i], surfaces[j])
        scores.append(r.cmc)
        same.append(scans[i]["firearm_id"] == scans[j]["firearm_id"])
        print(f"{k}/{len(pairs)}  {scans[i]['specimen_id']:>10} ~ {scans[j]['specimen_id']:<10}"
              f" cmc {r.cmc:2d}  {r.verdict:<14} {'same' if same[-1] else 'different'}",
              flush=True)
    n_same = sum(same)
    print(f"{len(pairs)} pairs ({n_same} same source) in {time.time() - t0:.0f} s")
    if not n_same or n_same == len(pairs):
        print("AUC undefined: need both same- and different-source pairs (more scans)")
        return 1 if args.check else 0
    a = auc(scores, same)
    print(f"AUC of the CMC count: {a:.4f}")
    return 1 if args.check and not a > 0.5 else 0


if __name__ == "__main__":
    sys.exit(main())
