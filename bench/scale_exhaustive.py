#!/usr/bin/env python3
"""Stage-1 recall against exhaustive re-scoring on a sample (issue 7, "Scale and speed").

A synthetic library (ibex synth --lib: F firearms x 4 casings, G x G points, seed 1) is
indexed; Q new casings (shot 5 of firearms 1..Q, same seed, so firearm i of the queries is
firearm i of the library) are queried twice with 'ibex query':
  stage 1 only over every row (--stage1-only --shortlist ALL), and
  exhaustive stage 2 (--shortlist ALL: CMC of the query against every library casing,
  with --prealign since synthetic casings come at any rotation).
For each query the specimens exhaustive stage 2 ranks in its top T (default 5) are looked
up in the stage-1 ranking: recall = the share of them inside the default shortlist,
max(50, 1% of the library), and inside the top 50. The true mates' ranks are reported too.

Cost: ~0.6 s per CMC pair on 2 cores at G = 256, so 1,000 casings take ~10 min per query.
Files go to --dir (lib.h5, q/, s1.json, exh.json) and are reused when present.

usage: scale_exhaustive.py [--ibex PATH] [--dir DIR] [--firearms F] [--grid G] [--queries Q]
                           [--top T] [--json]
"""
import argparse, json, os, subprocess, sys


def run(ibex, args, out=None):
    with open(out, "w") if out else open(os.devnull, "w") as f:
        p = subprocess.run([ibex, *args], stdout=f, stderr=subprocess.PIPE, text=True)
    if p.returncode != 0:
        sys.exit(f"scale_exhaustive: ibex {' '.join(args[:2])} failed: {p.stderr.strip()}")


def ranking(path):
    """One list per query of (specimen id, firearm_id), best first."""
    with open(path) as f:
        return [[(c["id"], c.get("firearm_id")) for c in json.loads(line)["candidates"]] for line in f if line.strip()]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ibex", default=os.environ.get("IBEX", "build/cli/ibex"))
    ap.add_argument("--dir", default="scale-exhaustive")
    ap.add_argument("--firearms", type=int, default=250)
    ap.add_argument("--grid", type=int, default=256)
    ap.add_argument("--queries", type=int, default=2)
    ap.add_argument("--top", type=int, default=5)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    os.makedirs(a.dir, exist_ok=True)
    lib, qdir = os.path.join(a.dir, "lib.h5"), os.path.join(a.dir, "q")
    n = 4 * a.firearms
    if not os.path.exists(lib):
        run(a.ibex, ["synth", "cartridge", "--firearms", str(a.firearms), "--per-firearm", "4", "--size",
                     str(a.grid), "--seed", "1", "--lib", lib, "--no-sync"])
        run(a.ibex, ["index", lib])
    if not os.path.isdir(qdir):
        run(a.ibex, ["synth", "cartridge", "--firearms", str(a.queries), "--per-firearm", "5", "--size",
                     str(a.grid), "--seed", "1", "--out", qdir, "--no-sync"])
    queries = [os.path.join(qdir, "F%02d" % (i + 1), "F%02d-5.x3p" % (i + 1)) for i in range(a.queries)]
    s1, ex = os.path.join(a.dir, "s1.json"), os.path.join(a.dir, "exh.json")
    common = ["--json", "--shortlist", str(n), "--top", "0", lib, *queries]
    if not os.path.exists(s1):
        run(a.ibex, ["query", "--stage1-only", *common], s1)
    if not os.path.exists(ex):
        run(a.ibex, ["query", "--prealign", *common], ex)
    k = max(50, n // 100)
    rows, hit_k, hit_50, total = [], 0, 0, 0
    for qi, (r1, r2) in enumerate(zip(ranking(s1), ranking(ex))):
        rank1 = {sid: i + 1 for i, (sid, _) in enumerate(r1)}
        top = [sid for sid, _ in r2[:a.top]]
        ranks = [rank1.get(sid) for sid in top]
        want = "F%0*d" % (max(2, len(str(a.firearms))), qi + 1)  # ibex synth's id width
        mates1 = [i + 1 for i, (_, fid) in enumerate(r1) if fid == want]
        mates2 = [i + 1 for i, (_, fid) in enumerate(r2) if fid == want]
        hit_k += sum(1 for r in ranks if r and r <= k)
        hit_50 += sum(1 for r in ranks if r and r <= 50)
        total += len(top)
        rows.append({"query": queries[qi], "exhaustive_top": top, "their_stage1_ranks": ranks,
                     "true_mate_ranks_stage1": mates1, "true_mate_ranks_exhaustive": mates2})
    res = {"library": n, "grid": a.grid, "queries": a.queries, "top": a.top, "shortlist": k,
           "recall_at_shortlist": hit_k / total if total else None,
           "recall_at_50": hit_50 / total if total else None, "per_query": rows}
    if a.json:
        print(json.dumps(res, indent=2))
        return
    print(f"library {n} casings at {a.grid}^2, {a.queries} queries; exhaustive top {a.top} by CMC (--prealign)")
    for r in rows:
        print(f"  {os.path.basename(r['query'])}: stage-1 ranks of the exhaustive top {a.top}: {r['their_stage1_ranks']}; "
              f"true mates at stage 1 {r['true_mate_ranks_stage1']}, exhaustive {r['true_mate_ranks_exhaustive']}")
    print(f"recall of the exhaustive top {a.top}: {hit_k}/{total} in the default shortlist ({k}), "
          f"{hit_50}/{total} in the stage-1 top 50")


if __name__ == "__main__":
    main()
