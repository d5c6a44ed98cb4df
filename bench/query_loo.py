#!/usr/bin/env python3
"""Leave-one-out query benchmark, through the ibex CLI.

Every scan of a real set (fadul casings, hamby44 or hamby252 land scans) is queried with
'ibex query' against a library holding the other scans of the set plus synthetic
distractors made by 'ibex synth' at the set's spacing (a third each at difficulty 0.25,
0.5 and 0.75, fixed seeds). Reports, per query and in total: the stage-2 rank of the
first true mate (same same_source_key), whether every mate is in the stage-2 top 5, and
the recall of the stage-1 shortlist against the true mates that exhaustive stage 2 ranks
in its top 5.

The PCA basis never sees the query (--basis):
  others       (default) one library per query: distractors + the other scans of the set,
               indexed once, so the basis is fitted on them; the query is not in it.
  distractors  one library: distractors ingested and indexed first (the basis is fitted on
               them alone), then the set is ingested and projected with that basis
               ('ibex index' does not refit: the set is less than the distractor count);
               queries use --exclude-self.

Stage 2 (--stage2), after a stage-1-only 'ibex query' that ranks the whole library:
  exhaustive  'ibex query --shortlist ALL' re-scores every library specimen; the default
              shortlist's stage-2 ranking is the order of its members in that list.
              Default for bullets (a land comparison costs ~0.05 s).
  shortlist   'ibex query' with the default shortlist (what a user runs). No exhaustive
              ranking: the stage-1 recall is counted against all true mates (a superset
              of those exhaustive stage 2 would rank in its top 5). Default for casings
              (~2 CPU-s per CMC pair: 40 x 50 pairs is about an hour on 2 cores).
  ref         (casings; needs --ref FILE) the CMC score of a set-vs-set pair comes from
              FILE (bench_cmc --pairs lines, the same code as 'ibex query' stage 2), a
              query-vs-distractor pair in the default shortlist from 'ibex compare --json'
              (cached in WORK/pairs.jsonl). Exhaustive top 5: the ranking of the other
              scans of the set by FILE; distractors can only push mates down, so every mate
              the exhaustive run over the whole library ranks in its top 5 is counted.

usage: query_loo.py IBEX [DATA_DIR] [--set fadul|hamby44|hamby252] [--distractors N]
                    [--basis others|distractors] [--stage2 exhaustive|shortlist|ref] [--ref FILE]
                    [--shortlist K] [--queries A,B] [--quick] [--stage1-only] [--reuse] [--work DIR] [--threads N] [--check] [--json-out FILE]
--stage1-only: with --stage2 ref, skip the ibex compare runs (stage-2 ranks then cover only
the set's own scans in the shortlist; the stage-1 figures are complete).
--reuse: take the 'ibex query' results saved in WORK by an earlier run with the same
--basis and --stage2 (to add the stage-2 pairs or re-read a finished reference file).
--queries A,B: query only these files of the set (base names; the library is unchanged).
--quick: the ./run demo check (test real_query_fadul): Fadul_F and Fadul_K against the 40
casings alone (no distractors; the basis is fitted on all 40, the query included), shortlist 8.
--shortlist K: stage-1 shortlist (default: that of 'ibex query', max(50, 1% of N)).
--check: exit 1 unless the targets hold (first mate at rank 1 for all but one query with a
mate, every mate in the top 5, stage-1 recall >= 0.99). Exit 77 without the real data.
"""
import json, math, os, shutil, subprocess, sys, tempfile, time
from concurrent.futures import ThreadPoolExecutor

SETS = {  # kind, spacing (m), synth size, synth arguments per distractor block
    "fadul": ("cartridge", "6.25e-6", "540"),
    "hamby44": ("bullet", "1.5625e-6", "400"),
    "hamby252": ("bullet", "1.5625e-6", "400"),
}
DIFFS = ("0.25", "0.5", "0.75")


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, **kw)


def read_manifest(path):
    lines = open(path).read().splitlines()
    head = lines[0].split("\t")
    return lines[0], [(l, dict(zip(head, l.split("\t")))) for l in lines[1:] if l.strip()]


def make_distractors(ibex, work, kind, spacing, size, n):
    """n synthetic scans in three difficulty blocks; returns (rows, manifest path)."""
    man = os.path.join(work, "distractors", "MANIFEST.tsv")
    if os.path.exists(man):
        return read_manifest(man)[1], man
    top = os.path.join(work, "distractors")
    os.makedirs(top, exist_ok=True)
    out = []
    head = None
    for b, d in enumerate(DIFFS):
        m = n // 3 + (1 if b < n % 3 else 0)
        sub = os.path.join(top, "d" + d)
        name = "distr-%s-d%s" % (kind, d)
        if kind == "cartridge":
            cmd = [ibex, "synth", "cartridge", "--firearms", str(max(1, m // 4)), "--per-firearm", "4",
                   "--size", size]
        else:
            cmd = [ibex, "synth", "bullet", "--barrels", str(max(1, m // 12)), "--bullets-per-barrel", "2",
                   "--lands", "6"]
        run(cmd + ["--out", sub, "--spacing", spacing, "--difficulty", d, "--seed", str(7100 + b), "--set", name,
                   "--threads", "1", "--no-sync"], stdout=subprocess.DEVNULL)
        h, rows = read_manifest(os.path.join(sub, "MANIFEST.tsv"))
        head = h
        out += ["d%s/%s" % (d, l) for l, _ in rows]
    with open(man + ".tmp", "w") as f:
        f.write(head + "\n" + "".join(l + "\n" for l in out))
    os.rename(man + ".tmp", man)
    return read_manifest(man)[1], man


def subset_manifest(path, head, lines, data, kind):
    """Manifest of some rows of the real set, next to a link to the data's kind folder."""
    d = os.path.dirname(path)
    os.makedirs(d, exist_ok=True)
    link = os.path.join(d, kind)
    if not os.path.exists(link):
        os.symlink(os.path.join(os.path.abspath(data), kind), link)
    with open(path, "w") as f:
        f.write(head + "\n" + "".join(l + "\n" for l in lines))
    return path


def ingest(ibex, lib, man):
    run([ibex, "ingest", lib, "--manifest", man, "--no-sync", "--jobs", "1"], stdout=subprocess.DEVNULL)


def index(ibex, lib):
    return json.loads(run([ibex, "index", "--json", lib], capture_output=True, text=True).stdout)


def query(ibex, lib, files, kind, shortlist, stage1_only, exclude_self, threads):
    cmd = [ibex, "query", "--json", "--kind", kind, "--top", "0", "--shortlist", str(shortlist), lib] + files
    if stage1_only:
        cmd.append("--stage1-only")
    else:  # stage 2 of every shortlisted pair: the exhaustive ranking this script measures against
        cmd += ["--exact", "all"]
    if exclude_self:
        cmd.append("--exclude-self")
    if threads:
        cmd += ["--threads", str(threads)]
    out = run(cmd, capture_output=True, text=True).stdout
    return [json.loads(l) for l in out.splitlines() if l.strip()]


def lookup(ibex, lib, files, kind, n_lib, K, stage2, exclude_self, threads):
    """Full stage-1 ranking of every query, with stage-2 scores as --stage2 says."""
    if stage2 == "exhaustive":
        return query(ibex, lib, files, kind, n_lib, False, exclude_self, threads)
    res = query(ibex, lib, files, kind, n_lib, True, exclude_self, threads)
    if stage2 == "shortlist":
        for q, q2 in zip(res, query(ibex, lib, files, kind, K, False, exclude_self, threads)):
            by_id = {c["id"]: c for c in q2["candidates"]}
            for c in q["candidates"]:
                if c["id"] in by_id:
                    for f in ("score", "cmc", "cms", "verdict"):
                        if f in by_id[c["id"]]:
                            c[f] = by_id[c["id"]][f]
    return res


def cand_key(c):
    return c["id"]  # 'ibex ingest --manifest' names a specimen SET:SPECIMEN_ID


class PairCache:
    """CMC scores of query-vs-distractor pairs from 'ibex compare --json', kept on disk."""

    def __init__(self, ibex, path, threads):
        self.ibex, self.path, self.threads, self.d = ibex, path, threads, {}
        if os.path.exists(path):
            for l in open(path):
                r = json.loads(l)
                self.d[(r["a"], r["b"])] = r

    def get(self, a, b):
        return self.d.get((a, b))

    def fill(self, pairs):
        todo = list(dict.fromkeys(p for p in pairs if p not in self.d))  # keep the caller's order
        if not todo:
            return

        def one(p):
            out = run([self.ibex, "compare", "--json", "--threads", "1", p[0], p[1]], capture_output=True,
                      text=True).stdout
            j = json.loads(out)
            return {"a": p[0], "b": p[1], "score": j["score"], "cmc": j["cmc"], "verdict": j["verdict"]}

        t0 = time.time()
        with ThreadPoolExecutor(max(1, self.threads)) as ex, open(self.path, "a") as f:
            for r in ex.map(one, todo):
                self.d[(r["a"], r["b"])] = r
                f.write(json.dumps(r) + "\n")
                f.flush()
        print("stage 2: %d query-vs-distractor CMC pairs by ibex compare, %.0f s" % (len(todo), time.time() - t0))


def load_ref(path):
    ref = {}
    for l in open(path):
        if '"cmc_pair"' not in l:
            continue
        r = json.loads(l)
        v = {"score": r["score"], "cmc": min(r["cmc"]), "verdict": r["verdict"]}
        ref[(r["a"], r["b"])] = ref[(r["b"], r["a"])] = v
    return ref


def main():
    args = sys.argv[1:]
    opts, pos, i = {}, [], 0
    valued = ("--set", "--distractors", "--basis", "--stage2", "--ref", "--shortlist", "--work", "--threads",
              "--json-out", "--queries")
    while i < len(args):
        if args[i] in valued:
            opts[args[i]] = args[i + 1]
            i += 2
        elif args[i] in ("--check", "--stage1-only", "--reuse", "--quick"):
            opts[args[i]] = True
            i += 1
        elif args[i] in ("-h", "--help"):
            print(__doc__)
            return 0
        else:
            pos.append(args[i])
            i += 1
    if not pos:
        print(__doc__)
        return 2
    ibex = os.path.abspath(pos[0])
    data = pos[1] if len(pos) > 1 else os.environ.get("IBEX_DATA_DEFAULT", "")
    man = os.path.join(data, "MANIFEST.tsv")
    if not os.path.isfile(man):
        print("skip: real data not found (%s)" % man)
        return 77
    if "--quick" in opts:  # the ./run demo queries: Fadul F and K, the 40 casings alone, shortlist 8
        opts.update({"--set": "fadul", "--distractors": "0", "--basis": "distractors", "--shortlist": "8"})
        opts.setdefault("--queries", "Fadul_F.x3p,Fadul_K.x3p")
    setname = opts.get("--set", "fadul")
    if setname not in SETS:
        print("query_loo.py: unknown set %s (fadul, hamby44, hamby252)" % setname)
        return 2
    kind, spacing, size = SETS[setname]
    basis = opts.get("--basis", "others")
    stage2 = opts.get("--stage2", "ref" if "--ref" in opts else ("exhaustive" if kind == "bullet" else "shortlist"))
    if stage2 not in ("exhaustive", "shortlist", "ref"):
        print("query_loo.py: --stage2 exhaustive, shortlist or ref")
        return 2
    if stage2 == "ref" and ("--ref" not in opts or kind != "cartridge"):
        print("query_loo.py: --stage2 ref needs --ref FILE and a casing set")
        return 2
    nd = int(opts.get("--distractors", "480"))
    threads = int(opts.get("--threads", "2"))
    work = opts.get("--work")
    if not work:
        work = tempfile.mkdtemp(prefix="ibex_loo_")
        SCRATCH.append(work)
    work = os.path.abspath(work)
    os.makedirs(work, exist_ok=True)

    head, rows = read_manifest(man)
    members = [(l, r) for l, r in rows if r["set"] == setname and r["kind"] == kind]
    qfiles = [os.path.join(data, r["relative_path"]) for _, r in members]
    qsel = set(opts["--queries"].split(",")) if "--queries" in opts else None
    qidx = [i for i, q in enumerate(qfiles) if qsel is None or os.path.basename(q) in qsel]
    key_of = {r["specimen_id"]: r["same_source_key"] for _, r in members}
    drows, dman = make_distractors(ibex, work, kind, spacing, size, nd) if nd > 0 else ([], None)
    dpath = {"%s:%s" % (r["set"], r["specimen_id"]): os.path.join(work, "distractors", r["relative_path"])
             for _, r in drows}
    print("%s: %d queries, %d distractors (ibex synth %s, %s m), basis %s, stage 2 %s" %
          (setname, len(members), len(drows), kind, spacing, basis, stage2))

    # the distractor library, ingested once; indexed (basis on distractors) only for --basis distractors
    base = os.path.join(work, "distractors.h5")
    if dman and not os.path.exists(base):
        ingest(ibex, base + ".tmp", dman)
        os.rename(base + ".tmp", base)
    n_lib = len(drows) + len(members) - 1
    K = int(opts.get("--shortlist", max(50, math.ceil(0.01 * n_lib))))
    K = min(K, n_lib)
    t0 = time.time()
    results = []  # per query: list of candidates (dicts) with stage1 and, when known, score
    saved = os.path.join(work, "query_%s_%s.jsonl" % (basis, stage2))
    if "--reuse" in opts and os.path.exists(saved):
        results = [json.loads(l) for l in open(saved)]
        print("reusing the query results of %s" % saved)
    elif basis == "distractors":
        lib = os.path.join(work, "lib_basis_distractors.h5")
        if os.path.exists(lib):
            os.remove(lib)
        if dman:
            shutil.copyfile(base, lib)
            fit = index(ibex, lib)
        ingest(ibex, lib, subset_manifest(os.path.join(work, "set", "MANIFEST.tsv"), head,
                                          [l for l, _ in members], data, kind))
        ix = index(ibex, lib)
        if dman and ix["refit"]:
            print("query_loo.py: 'ibex index' refitted the basis with the set in it; use more distractors")
            return 1
        print("basis fitted on %d distractors only" % fit["kinds"][kind]["pca_fit_count"] if dman else
              "no distractors: basis fitted on the whole set, the queries included")
        results = lookup(ibex, lib, [qfiles[i] for i in qidx], kind, n_lib, K, stage2, True, threads)
    else:
        for qi in qidx:
            ql, qr = members[qi]
            lib = os.path.join(work, "lib_q.h5")
            if os.path.exists(lib):
                os.remove(lib)
            if dman:
                shutil.copyfile(base, lib)
            ingest(ibex, lib, subset_manifest(os.path.join(work, "set", "MANIFEST.tsv"), head,
                                              [l for l, _ in members if l != ql], data, kind))
            ix = index(ibex, lib)
            results += lookup(ibex, lib, [qfiles[qi]], kind, n_lib, K, stage2, False, threads)
            os.remove(lib)
            print("  %d/%d %s (%.0f s)" % (len(results), len(qidx), qr["specimen_id"], time.time() - t0), flush=True)

    if not ("--reuse" in opts and os.path.exists(saved)):
        with open(saved, "w") as f:
            f.write("".join(json.dumps(q) + "\n" for q in results))
    # stage 2 by reference file + ibex compare: fill scores of the default shortlist
    if stage2 == "ref":
        ref = load_ref(opts["--ref"])
        cache = PairCache(ibex, os.path.join(work, "pairs.jsonl"), threads)
        per_q = []
        for q in results:
            s1 = sorted(q["candidates"], key=lambda c: (-c["stage1"], c["row"]))[:K]
            per_q.append([(q["query"], dpath[cand_key(c)]) for c in s1 if cand_key(c) in dpath])
        # round robin over the queries, best stage-1 distractors first: an interrupted run
        # leaves every query with its most similar distractors scored
        need = [l[j] for j in range(K) for l in per_q if j < len(l)]
        if "--stage1-only" not in opts:
            cache.fill(need)
    print("library of %d per query, shortlist %d; %.0f s" % (n_lib, K, time.time() - t0))

    ks = sorted({5, 10, 20, 50, K} - {k for k in (5, 10, 20, 50) if k > n_lib})
    tot = {"queries": 0, "with_mate": 0, "rank1": 0, "all_top5": 0, "S": 0, "S_hit": {k: 0 for k in ks},
           "mates": 0, "mates_hit": {k: 0 for k in ks}, "worst_s1": 0}
    best_nonmate, worst_mate = -1e9, 1e9
    per = []
    print("%-26s %5s %8s %6s %s" % ("query", "first", "mates<=5", "s1 max", "stage-2 ranks of mates (shortlist)"))
    for q in results:
        qid = [r["specimen_id"] for _, r in members if os.path.join(data, r["relative_path"]) == q["query"]][0]
        qkey = key_of[qid]
        cands = q["candidates"]
        s1 = sorted(cands, key=lambda c: (-c["stage1"], c["row"]))
        s1rank = {cand_key(c): i + 1 for i, c in enumerate(s1)}
        mates = [c for c in cands if c.get("same_source_key") == qkey]
        short = s1[:K]
        if stage2 == "ref":
            for c in cands:
                v = ref.get((qid, c["id"][len(setname) + 1:])) if c["id"].startswith(setname + ":") else None
                if v is None and cand_key(c) in dpath:
                    v = cache.get(q["query"], dpath[cand_key(c)])
                c["score2"], c["cmc2"] = (v["score"], v["cmc"]) if v else (None, None)
            # exhaustive over the set (the reference): mates ranked in the top 5
            ex = sorted([c for c in cands if c["score2"] is not None and cand_key(c) not in dpath],
                        key=lambda c: (-c["score2"], -c["cmc2"], -c["stage1"], c["row"]))
        else:
            for c in cands:
                c["score2"] = c.get("score")
                c["cmc2"] = c.get("cms", c.get("cmc")) or 0  # bullets: CMS count
            ex = sorted([c for c in cands if c["score2"] is not None],
                        key=lambda c: (-c["score2"], -c["cmc2"], -c["stage1"], c["row"]))
        # without an exhaustive stage 2 (--stage2 shortlist) every mate counts
        S = [c for c in ex[:5] if c.get("same_source_key") == qkey] if stage2 != "shortlist" else mates
        s2 = sorted([c for c in short if c["score2"] is not None],
                    key=lambda c: (-c["score2"], -c["cmc2"], -c["stage1"], c["row"]))
        r2 = {cand_key(c): i + 1 for i, c in enumerate(s2)}
        ranks = sorted(r2[cand_key(c)] for c in mates if cand_key(c) in r2)
        tot["queries"] += 1
        for c in s2:
            if c.get("same_source_key") == qkey:
                worst_mate = min(worst_mate, c["score2"])
            else:
                best_nonmate = max(best_nonmate, c["score2"])
        if mates:
            tot["with_mate"] += 1
            tot["rank1"] += bool(ranks) and ranks[0] == 1
            ok5 = len(ranks) == len(mates) and ranks[-1] <= 5
            tot["all_top5"] += ok5
            tot["worst_s1"] = max(tot["worst_s1"], max(s1rank[cand_key(c)] for c in mates))
        else:
            ok5 = None
        tot["S"] += len(S)
        tot["mates"] += len(mates)
        for k in ks:
            tot["S_hit"][k] += sum(s1rank[cand_key(c)] <= k for c in S)
            tot["mates_hit"][k] += sum(s1rank[cand_key(c)] <= k for c in mates)
        s1m = sorted(s1rank[cand_key(c)] for c in mates)
        n_distr_short = sum(cand_key(c) in dpath for c in short)
        tot["unscored"] = tot.get("unscored", 0) + sum(c["score2"] is None for c in short)
        per.append({"query": qid, "mates": len(mates), "stage2_mate_ranks": ranks, "stage1_mate_ranks": s1m,
                    "distractors_in_shortlist": n_distr_short})
        print("%-26s %5s %8s %6s %s  (stage-1 ranks %s; %d distractors in shortlist)" %
              (qid, ranks[0] if ranks else "-", {True: "yes", False: "NO", None: "-"}[ok5],
               s1m[-1] if s1m else "-", ranks, s1m, n_distr_short))
    n = tot["with_mate"]
    summary = {"set": setname, "kind": kind, "basis": basis, "stage2": stage2, "distractors": len(drows),
               "library": n_lib, "shortlist": K, "queries": tot["queries"], "queries_with_mate": n,
               "first_mate_rank1": tot["rank1"], "all_mates_top5": tot["all_top5"],
               "worst_stage1_mate_rank": tot["worst_s1"], "exhaustive_top5_mates": tot["S"],
               "stage1_recall_of_exhaustive_top5": {str(k): (tot["S_hit"][k] / tot["S"] if tot["S"] else None)
                                                    for k in ks},
               "stage1_recall_of_all_mates": {str(k): (tot["mates_hit"][k] / tot["mates"] if tot["mates"] else None)
                                              for k in ks},
               "shortlisted_without_stage2": tot.get("unscored", 0), "lowest_mate_score": worst_mate, "highest_nonmate_score": best_nonmate, "per_query": per}
    print("first true mate at rank 1: %d/%d; every mate in the top 5: %d/%d (queries with a mate); "
          "worst stage-1 mate rank %d of %d" % (tot["rank1"], n, tot["all_top5"], n, tot["worst_s1"], n_lib))
    for k in ks:
        print("stage-1 top-%d: recall %d/%d of the mates %s, %d/%d of all mates" %
              (k, tot["S_hit"][k], tot["S"], "(no exhaustive stage 2: all)" if stage2 == "shortlist" else
               "exhaustive stage 2 ranks in its top 5", tot["mates_hit"][k], tot["mates"]))
    print("stage 2 on the shortlist: lowest mate score %.3f, highest non-mate score %.3f" % (worst_mate, best_nonmate))
    if tot.get("unscored"):
        print("NOTE: %d shortlisted candidates have no stage-2 score (run again with --reuse to finish); "
              "the stage-2 ranks above leave them out" % tot["unscored"])
    print(json.dumps({k: v for k, v in summary.items() if k != "per_query"}))
    if "--json-out" in opts:
        with open(opts["--json-out"], "w") as f:
            json.dump(summary, f, indent=1)
    if "--check" in opts:
        rec = summary["stage1_recall_of_exhaustive_top5"][str(K)]
        # the accuracy target: a true mate at rank 1 for at least 39 of 40 (all of a small set)
        if tot["rank1"] < n - n // 40 or tot["all_top5"] < n or (rec is not None and rec < 0.99):
            print("FAIL: targets not met")
            return 1
    return 0


SCRATCH = []  # scratch directories this run made (and only those: runs may overlap)

if __name__ == "__main__":
    try:
        rc = main()
    finally:
        for d in SCRATCH:
            shutil.rmtree(d, ignore_errors=True)
    sys.exit(rc)
