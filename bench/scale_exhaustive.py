#!/usr/bin/env python3
"""Stage-1 recall against exhaustive re-scoring on a sample (results:
docs/measurements/index.md).

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

With --sample R (for libraries where every pair is out of reach) stage 2 re-scores, per
query, a sample of the library instead of all of it: the stage-1 top S (--keep, default
50), every true mate, and R specimens drawn at random (seeded, uniform over the other
firearms' casings by the ids 'ibex synth --lib' gives them), through 'ibex query
--within'. The true mates that this re-scoring ranks in its top T are looked up in the
stage-1 ranking, read down to the default shortlist max(50, 1%) (recall at the shortlist
and at 50), and the draw estimates how many of the specimens not re-scored would outrank
each mate (share of the draw scoring at least the mate's score, times the number not
re-scored; with none of R above, a 95% upper bound on that share is 3/R).

Files go to --dir (lib.h5, q/, s1*.json|csv, exh*.json) and are reused when present.

usage: scale_exhaustive.py [--ibex PATH] [--dir DIR] [--firearms F] [--grid G] [--queries Q]
                           [--top T] [--sample R [--keep S] [--seed X] [--exact K]] [--json]
--exact K (with --sample): the two-step stage 2 (ibex query --exact K) re-runs each sample;
the mates the exhaustive re-scoring ranks in its top K must be in the two-step top K.
"""
import argparse, csv, json, os, random, subprocess, sys


def run(ibex, args, out=None):
    with open(out, "w") if out else open(os.devnull, "w") as f:
        p = subprocess.run([ibex, *args], stdout=f, stderr=subprocess.PIPE, text=True)
    if p.returncode != 0:
        sys.exit(f"scale_exhaustive: ibex {' '.join(args[:2])} failed: {p.stderr.strip()}")


def ranking(path):
    """One list per query of (specimen id, firearm_id), best first."""
    with open(path) as f:
        return [[(c["id"], c.get("firearm_id")) for c in json.loads(line)["candidates"]] for line in f if line.strip()]


def stage1_csv(path):
    """Stage-1 ranking of one query from 'ibex query --csv': [(id, firearm_id)], best first."""
    with open(path, newline="") as f:
        return [(r["id"], r["firearm_id"]) for r in csv.DictReader(f)]


def sampled(a, lib, queries, n, k, width):
    """--sample mode: re-score top S + mates + R random per query; recall of the mates."""
    rows, hit_k, hit_50, total, two_total, two_kept = [], 0, 0, 0, 0, 0
    for qi, qpath in enumerate(queries):
        # The stage-1 ranking down to the default shortlist (filling the table details of
        # every row would cost minutes at 10^6); rows below it have rank > len(r1).
        depth = min(n, max(k, a.keep))
        s1 = os.path.join(a.dir, "s1-q%d-d%d.csv" % (qi + 1, depth))
        if not os.path.exists(s1):
            run(a.ibex, ["query", "--stage1-only", "--csv", "--shortlist", str(depth), "--top", "0", lib, qpath], s1)
        r1 = stage1_csv(s1)
        rank1 = {sid: i + 1 for i, (sid, _) in enumerate(r1)}
        want = "F%0*d" % (width, qi + 1)
        # ids as 'ibex synth --lib' names them: SET:FIREARM-SHOT, 4 shots per firearm
        prefix = r1[0][0].split(":")[0] + ":"
        name = lambda f, shot: "%sF%0*d-%d" % (prefix, width, f, shot)
        mates = [name(qi + 1, shot) for shot in range(1, 5)]
        head = [sid for sid, _ in r1[:a.keep]]
        taken, draw, rng = set(head) | set(mates), [], random.Random(a.seed * 1000 + qi)
        while len(draw) < min(a.sample, n - len(taken)):
            sid = name(rng.randrange(1, a.firearms + 1), rng.randrange(1, 5))
            if sid not in taken:
                taken.add(sid)
                draw.append(sid)
        ids = list(dict.fromkeys(head + mates + draw))
        ex = os.path.join(a.dir, "exh-q%d-k%d-r%d-seed%d.json" % (qi + 1, a.keep, a.sample, a.seed))
        if not os.path.exists(ex):
            wl = ex + ".ids"
            with open(wl, "w") as f:
                f.write("\n".join(ids) + "\n")
            run(a.ibex, ["query", "--prealign", "--json", "--within", wl, "--shortlist", str(len(ids)), "--top", "0",
                         "--exact", "all", lib, qpath], ex)
        with open(ex) as f:
            cands = json.loads(f.readline())["candidates"]
        score = {c["id"]: c["score"] for c in cands}
        order = [c["id"] for c in cands]  # ibex query's stage-2 order: score, then CMC, stage 1
        rank2 = {sid: i + 1 for i, sid in enumerate(order)}
        drawn = [score[sid] for sid in draw if sid in score]
        unscored = n - len(ids)
        per_mate = []
        for sid in mates:
            over = sum(1 for v in drawn if v >= score[sid])
            est = over / len(drawn) * unscored if drawn else None
            r = rank1.get(sid)  # None: below the stage-1 depth read, so outside the shortlist
            per_mate.append({"id": sid, "stage1_rank": r, "cmc_score": score[sid], "sample_rank": rank2[sid],
                             "drawn_at_or_above": over, "est_unscored_above": est})
            if rank2[sid] <= a.top:
                total += 1
                hit_k += r is not None and r <= k
                hit_50 += r is not None and r <= 50
        if a.exact:  # the two-step stage 2 over the same sample: does its top K keep the mates?
            ts = ex[:-5] + "-exact%d.json" % a.exact
            if not os.path.exists(ts):
                run(a.ibex, ["query", "--prealign", "--json", "--within", ex + ".ids", "--shortlist", str(len(ids)),
                             "--top", "0", "--exact", str(a.exact), lib, qpath], ts)
            with open(ts) as f:
                two = [c["id"] for c in json.loads(f.readline())["candidates"]][:a.exact]
            in_top = [sid for sid in mates if rank2[sid] <= a.exact]
            two_total += len(in_top)
            two_kept += sum(sid in two for sid in in_top)
        best_non = max((score[sid] for sid in ids if sid not in mates), default=None)
        rows.append({"query": qpath, "rescored": len(ids), "drawn": len(drawn), "mates": per_mate,
                     "best_non_mate_score": best_non,
                     "sample_top": [(sid, round(score[sid], 2), rank1.get(sid)) for sid in order[:a.top]]})
    return {"library": n, "grid": a.grid, "queries": a.queries, "top": a.top, "shortlist": k, "mode": "sample",
            "keep": a.keep, "sample": a.sample, "mates_in_top": total, "in_shortlist": hit_k, "in_top_50": hit_50,
            "recall_at_shortlist": hit_k / total if total else None,
            "recall_at_50": hit_50 / total if total else None,
            "two_step": {"exact_top": a.exact, "mates_in_exhaustive_top": two_total, "kept": two_kept,
                         "recall": two_kept / two_total if two_total else None} if a.exact else None,
            "per_query": rows}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ibex", default=os.environ.get("IBEX", "build/cli/ibex"))
    ap.add_argument("--dir", default="scale-exhaustive")
    ap.add_argument("--firearms", type=int, default=250)
    ap.add_argument("--grid", type=int, default=256)
    ap.add_argument("--queries", type=int, default=2)
    ap.add_argument("--top", type=int, default=5)
    ap.add_argument("--sample", type=int, default=0, help="re-score a sample: R random specimens (see above)")
    ap.add_argument("--keep", type=int, default=50, help="--sample: stage-1 top S re-scored too")
    ap.add_argument("--seed", type=int, default=1, help="--sample: seed of the random draw")
    ap.add_argument("--exact", type=int, default=0,
                    help="--sample: also run the two-step stage 2 (ibex query --exact K) on each sample and "
                         "count the mates of the exhaustive top K it keeps in its top K")
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
    k = max(50, -(-n // 100))  # ibex query's default shortlist: max(50, 1% rounded up)
    width = max(2, len(str(a.firearms)))  # ibex synth's firearm id width
    if a.sample:
        res = sampled(a, lib, queries, n, k, width)
        if a.json:
            print(json.dumps(res, indent=2))
            return
        print(f"library {n} casings at {a.grid}^2, {a.queries} queries; re-scored by CMC (--prealign): stage-1 top "
              f"{a.keep} + true mates + {a.sample} drawn at random")
        for r in res["per_query"]:
            m = ", ".join(f"{x['stage1_rank'] or '>%d' % res['shortlist']}->{x['sample_rank']} ({x['cmc_score']:.1f}; est. "
                          f"{x['est_unscored_above']:.0f} unscored above)" for x in r["mates"])
            print(f"  {os.path.basename(r['query'])}: true mates, stage-1 rank -> re-scored rank (score): {m}; "
                  f"best non-mate {r['best_non_mate_score']:.1f}")
        print(f"recall of the true mates re-scored into the top {a.top}: {res['in_shortlist']}/{res['mates_in_top']} "
              f"in the default shortlist ({k}), {res['in_top_50']}/{res['mates_in_top']} in the stage-1 top 50")
        if res["two_step"]:
            t = res["two_step"]
            print(f"two-step stage 2 (--exact {t['exact_top']}): {t['kept']}/{t['mates_in_exhaustive_top']} of the mates "
                  f"in the exhaustive top {t['exact_top']} kept in its top {t['exact_top']}")
        return
    s1, ex = os.path.join(a.dir, "s1.json"), os.path.join(a.dir, "exh.json")
    common = ["--json", "--shortlist", str(n), "--top", "0", lib, *queries]
    if not os.path.exists(s1):
        run(a.ibex, ["query", "--stage1-only", *common], s1)
    if not os.path.exists(ex):
        run(a.ibex, ["query", "--prealign", "--exact", "all", *common], ex)
    rows, hit_k, hit_50, total = [], 0, 0, 0
    for qi, (r1, r2) in enumerate(zip(ranking(s1), ranking(ex))):
        rank1 = {sid: i + 1 for i, (sid, _) in enumerate(r1)}
        top = [sid for sid, _ in r2[:a.top]]
        ranks = [rank1.get(sid) for sid in top]
        want = "F%0*d" % (width, qi + 1)
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
