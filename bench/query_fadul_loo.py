#!/usr/bin/env python3
"""Leave-one-out query benchmark on the 40 Fadul casings (issue 7, "Accuracy").

Ingests the Fadul casings of the real-data manifest into a fresh library, runs
'ibex index', then queries every casing against the library with --exclude-self and a
shortlist of all 39 others, so stage 2 (CMC) is exhaustive and the stage-1 ranking of the
same candidates is known. Reports per query the stage-2 rank of the first true mate (same
firearm_id), whether every mate is in the stage-2 top 5, and the recall of a stage-1
shortlist of k against the mates that exhaustive stage 2 ranks in its top 5.

Note: the PCA basis is fitted on all 40 casings (the query included) and there are no
distractors. The issue-7 accuracy protocol (distractors, a basis that never sees the query,
Hamby lands too) is bench/query_loo.py; this script stays for the ./run demo queries
(--quick, test real_query_fadul).

usage: query_fadul_loo.py IBEX [DATA_DIR] [--work DIR] [--json-in FILE] [--threads N]
                          [--quick] [--check] [--shortlist K]
--shortlist K: stage-1 shortlist per query (default 39 = every other casing, so stage 2 is
exhaustive; about 1,560 CMC runs, ~50 CPU-minutes). With K < 39 the report gives the
recall of the stage-1 shortlist against all true mates instead of against stage 2.
--quick: only Fadul_F and Fadul_K as queries, shortlist 8 (the ./run demo queries; no
stage-1 recall figures then). --check: exit 1 unless the issue-7 targets hold (first mate
at rank 1 for >= 39/40 queries, or for every query with --quick; every mate in the top 5).
exit 77 when the data directory is absent.
"""
import json, os, subprocess, sys, tempfile, time

def main():
    args = sys.argv[1:]
    opts = {}
    pos = []
    i = 0
    while i < len(args):
        if args[i] in ("--work", "--json-in", "--threads", "--shortlist"):
            opts[args[i]] = args[i + 1]
            i += 2
        elif args[i] in ("--quick", "--check"):
            opts[args[i]] = True
            i += 1
        else:
            pos.append(args[i])
            i += 1
    if not pos:
        print(__doc__)
        return 2
    ibex = pos[0]
    data = pos[1] if len(pos) > 1 else os.environ.get("IBEX_DATA_DEFAULT", "")
    man = os.path.join(data, "MANIFEST.tsv")
    if not os.path.isfile(man):
        print("skip: real data not found (%s)" % man)
        return 77
    lines = open(man).read().splitlines()
    head = lines[0].split("\t")
    rows = [dict(zip(head, l.split("\t"))) for l in lines[1:]]
    fad = [r for r in rows if r["kind"] == "cartridge" and r["set"] == "fadul"]
    work = opts.get("--work")
    if not work:
        work = tempfile.mkdtemp(prefix="ibex_loo_")
        SCRATCH.append(work)
    os.makedirs(work, exist_ok=True)
    if "--json-in" in opts:
        out = open(opts["--json-in"]).read()
    else:
        sub = os.path.join(work, "data")
        os.makedirs(sub, exist_ok=True)
        with open(os.path.join(sub, "MANIFEST.tsv"), "w") as f:
            f.write(lines[0] + "\n")
            for l in lines[1:]:
                r = dict(zip(head, l.split("\t")))
                if r["kind"] == "cartridge" and r["set"] == "fadul":
                    f.write(l + "\n")
        link = os.path.join(sub, "cartridge")
        if not os.path.exists(link):
            os.symlink(os.path.join(os.path.abspath(data), "cartridge"), link)
        lib = os.path.join(work, "fadul.h5")
        if not os.path.exists(lib):
            subprocess.run([ibex, "ingest", lib, "--manifest", os.path.join(sub, "MANIFEST.tsv"), "--no-sync"],
                           check=True, stdout=subprocess.DEVNULL)
        subprocess.run([ibex, "index", lib], check=True)
        qs = [os.path.join(data, r["relative_path"]) for r in fad]
        k = int(opts.get("--shortlist", len(qs) - 1))
        if "--quick" in opts:
            qs = [q for q in qs if os.path.basename(q) in ("Fadul_F.x3p", "Fadul_K.x3p")]
            k = 8
        cmd = [ibex, "query", "--json", "--exclude-self", "--shortlist", str(k), "--top", "0", lib] + qs
        if "--threads" in opts:
            cmd += ["--threads", opts["--threads"]]
        t0 = time.time()
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        with open(os.path.join(work, "loo.jsonl"), "w") as f:
            f.write(out)
        print("query time: %.1f s for %d queries" % (time.time() - t0, len(qs)))
    fire = {os.path.basename(r["relative_path"]): r["firearm_id"] for r in fad}
    per_firearm = {}
    for f in fire.values():
        per_firearm[f] = per_firearm.get(f, 0) + 1
    in_short = 0
    all_mates = 0
    res = [json.loads(l) for l in out.splitlines() if l.strip()]
    rank1 = 0
    all_top5 = 0
    ks = (5, 10, 20)
    hit = {k: 0 for k in ks}
    tot = 0
    worst = 0
    print("%-14s %-4s %5s %8s %s" % ("query", "fa", "first", "mates<=5", "stage-2 ranks of mates"))
    for q in res:
        f = fire[os.path.basename(q["query"])]
        cands = q["candidates"]
        mates = [c for c in cands if c["firearm_id"] == f]
        in_short += len(mates)
        all_mates += per_firearm[f] - 1
        ranks = [c["rank"] for c in mates]
        first = min(ranks) if ranks else None
        rank1 += first == 1
        ok5 = len(ranks) == per_firearm[f] - 1 and max(ranks) <= 5
        all_top5 += ok5
        worst = max([worst] + ranks)
        s1 = sorted(cands, key=lambda c: (-c["stage1"], c["row"]))
        s1rank = {c["row"]: i + 1 for i, c in enumerate(s1)}
        for c in mates:
            if c["rank"] <= 5:
                tot += 1
                for k in ks:
                    hit[k] += s1rank[c["row"]] <= k
        print("%-14s %-4s %5s %8s %s" % (os.path.basename(q["query"]), f, first, "yes" if ok5 else "NO", ranks))
    n = len(res)
    summary = {"queries": n, "first_mate_rank1": rank1, "all_mates_top5": all_top5, "worst_mate_rank": worst,
               "stage1_recall_of_stage2_top5": {str(k): (hit[k] / tot if tot else None) for k in ks},
               "stage2_top5_mates": tot, "shortlist": len(res[0]["candidates"]) if res else 0,
               "stage1_shortlist_recall_of_all_mates": in_short / all_mates if all_mates else None}
    print("first true mate at rank 1: %d/%d; every mate in top 5: %d/%d; worst mate rank %d" %
          (rank1, n, all_top5, n, worst))
    print("stage-1 shortlist (%d) holds %d of %d true mates" % (summary["shortlist"], in_short, all_mates))
    for k in ks:
        print("stage-1 top-%d recall of the mates stage 2 ranks in its top 5: %d/%d" % (k, hit[k], tot))
    print(json.dumps(summary))
    if "--check" in opts:
        need = n if "--quick" in opts else n - 1
        if rank1 < need or all_top5 < n:
            print("FAIL: targets not met (rank 1 for >= %d/%d, all mates in top 5 for %d/%d)" % (need, n, n, n))
            return 1
    return 0

SCRATCH = []  # scratch directories this run made (and only those: runs may overlap)

if __name__ == "__main__":
    try:
        rc = main()
    finally:
        import shutil
        for d in SCRATCH:
            shutil.rmtree(d, ignore_errors=True)
    sys.exit(rc)
