#!/usr/bin/env python3
"""Merge the cmc_pair lines of one or more bench_cmc runs (pairs split with --from/--to)
and print one JSON summary: CMC distributions for known matches and non-matches, AUC,
errors at the identification threshold, time per comparison.
Usage: cmc_merge.py RUN.jsonl [RUN.jsonl ...] [--threshold 6] [--ref REF.jsonl]
--ref: compare the CMC counts (both rules, both directions) pair by pair with another run
(e.g. the exhaustive search) and report how many pairs are identical and which differ, and
the largest score difference (bench_cmc prints scores to 7 decimals; older runs to 3)."""
import json
import sys
from collections import Counter


def auc(pos, neg):
    if not pos or not neg:
        return None
    s = 0.0
    for p in pos:
        for n in neg:
            s += 1.0 if p > n else 0.5 if p == n else 0.0
    return s / (len(pos) * len(neg))


def load(files):
    pairs = {}
    for f in files:
        for line in open(f):
            if '"cmc_pair"' not in line:
                continue
            try:
                r = json.loads(line)
            except json.JSONDecodeError:  # a run still being written
                continue
            pairs[(r["a"], r["b"])] = r
    return pairs


def main(argv):
    thr = 6
    ref = None
    files = []
    i = 0
    while i < len(argv):
        if argv[i] == "--threshold":
            thr = int(argv[i + 1])
            i += 2
        elif argv[i] == "--ref":
            ref = argv[i + 1]
            i += 2
        else:
            files.append(argv[i])
            i += 1
    pairs = load(files)
    rows = list(pairs.values())
    out = {"bench": "cmc_merged", "pairs": len(rows), "threshold": thr}
    m = [r for r in rows if r["match"]]
    n = [r for r in rows if not r["match"]]
    out["matches"], out["nonmatches"] = len(m), len(n)
    for key, get in (("cmc", lambda r: min(r["cmc"])), ("cmc_high", lambda r: min(r["cmc_high"])),
                     ("score", lambda r: r["score"])):
        pos, neg = [get(r) for r in m], [get(r) for r in n]
        out["auc_" + key] = auc(pos, neg)
        if key != "score":
            out[key + "_matches"] = dict(sorted(Counter(pos).items()))
            out[key + "_nonmatches"] = dict(sorted(Counter(neg).items()))
            out["errors_" + key] = {"fn": sum(v < thr for v in pos), "fp": sum(v >= thr for v in neg)}
            out[key + "_min_match"] = min(pos) if pos else None
            out[key + "_max_nonmatch"] = max(neg) if neg else None
    # verdicts recomputed from the original-rule count (IBEX's rule; elimination at <= 2)
    def verdict(r):
        c = min(r["cmc"])
        return "identification" if c >= thr else "elimination" if c <= 2 else "inconclusive"
    out["verdicts"] = {f"{'match' if k[0] else 'nonmatch'}:{k[1]}": v
                       for k, v in sorted(Counter((r["match"], verdict(r)) for r in rows).items())}
    # how the two directions are combined: min (IBEX's choice), max, sum
    for key in ("cmc", "cmc_high"):
        for name, f in (("max", max), ("sum", sum)):
            out[f"auc_{key}_{name}"] = auc([f(r[key]) for r in m], [f(r[key]) for r in n])
    if rows:
        ms = sorted(r["ms"] for r in rows)
        out["ms_median"] = ms[len(ms) // 2]
        out["ms_mean"] = sum(ms) / len(ms)
    if ref:
        rp = load([ref])
        both = [k for k in pairs if k in rp]
        diff = [k for k in both if pairs[k]["cmc"] != rp[k]["cmc"] or
                pairs[k]["cmc_high"] != rp[k]["cmc_high"]]
        out["ref_pairs_compared"] = len(both)
        out["ref_pairs_identical"] = len(both) - len(diff)
        out["ref_pairs_differing"] = [
            {"a": k[0], "b": k[1], "match": pairs[k]["match"], "cmc": pairs[k]["cmc"],
             "ref_cmc": rp[k]["cmc"], "cmc_high": pairs[k]["cmc_high"],
             "ref_cmc_high": rp[k]["cmc_high"]} for k in diff]
        out["ref_verdicts_differing"] = sum(verdict(pairs[k]) != verdict(rp[k]) for k in both)
        # scores: both runs must print them finely enough (bench_cmc: 7 decimals)
        sd = [abs(pairs[k]["score"] - rp[k]["score"]) for k in both]
        out["ref_score_max_abs_diff"] = max(sd) if sd else None
        out["ref_scores_within_1e-5"] = sum(d <= 1e-5 for d in sd)
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1:])
