#!/usr/bin/env python3
"""Recall and cost of the two-step query stage 2 (ibex query --exact K) against the one-step
exhaustive CMC of the whole shortlist (--exact all), through the ibex CLI.

Library: the casings of a real set (default fadul) plus D synthetic distractors made by
'ibex synth' at the set's spacing (a third each at difficulty 0.25, 0.5, 0.75; fixed seeds),
indexed; built in WORK and reused. Every casing of the set is queried in one batch with
--exclude-self (leave one out), once with --exact all and once with --exact K. For each
query: the true mates (same set and firearm_id) that the exhaustive run ranks in its top K must be
in the two-step run's top K (recall), and the two top K lists are compared as sets and in
order. Both runs' wall and CPU time (the ibex process, from wait4) are reported.

usage: query_two_step.py IBEX [DATA_DIR] [--set fadul] [--distractors D] [--exact K]
                         [--shortlist S] [--work DIR] [--threads N] [--json-out FILE]
Exit 77 without the data; 1 when recall < 1.
"""
import argparse, csv, json, os, resource, subprocess, sys, time

SPACING = {"fadul": ("6.25e-6", "540")}


def run(cmd, out=None):
    t0 = time.time()
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(out, "w") if out else open(os.devnull, "w") as f:
        p = subprocess.run(cmd, stdout=f, stderr=subprocess.PIPE, text=True)
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.returncode != 0:
        sys.exit(f"query_two_step: {' '.join(cmd[:3])} failed: {p.stderr.strip()[-500:]}")
    return time.time() - t0, (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)


def build(ibex, data, work, setname, distractors):
    lib = os.path.join(work, f"{setname}-{distractors}.h5")
    man = os.path.join(work, f"{setname}.tsv")
    rows = [r for r in csv.DictReader(open(os.path.join(data, "MANIFEST.tsv")), delimiter="\t")
            if r["set"] == setname and r["kind"] == "cartridge"]
    with open(man, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0].keys()), delimiter="\t")
        w.writeheader()
        for r in rows:
            w.writerow(dict(r, relative_path=os.path.join(data, r["relative_path"])))
    if not os.path.exists(lib):
        spacing, size = SPACING[setname]
        per = distractors // 3
        for k, diff in enumerate(("0.25", "0.5", "0.75")):
            n = per if k < 2 else distractors - 2 * per
            if n <= 0:
                continue
            run([ibex, "synth", "cartridge", "--lib", lib, "--firearms", str((n + 3) // 4), "--per-firearm", "4",
                 "--size", size, "--spacing", spacing, "--difficulty", diff, "--seed", str(100 + k),
                 "--set", f"distractor{k}", "--no-sync"])
        run([ibex, "ingest", lib, "--manifest", man, "--no-sync"])
        run([ibex, "index", lib])
    return lib, rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("ibex")
    ap.add_argument("data", nargs="?", default=os.environ.get("IBEX_DATA", ""))
    ap.add_argument("--set", default="fadul")
    ap.add_argument("--distractors", type=int, default=200)
    ap.add_argument("--exact", type=int, default=10)
    ap.add_argument("--shortlist", type=int, default=0)
    ap.add_argument("--work", default="two-step-work")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--json-out")
    a = ap.parse_args()
    if not a.data or not os.path.exists(os.path.join(a.data, "MANIFEST.tsv")):
        print("query_two_step: no data (DATA_DIR or IBEX_DATA)")
        return 77
    os.makedirs(a.work, exist_ok=True)
    lib, rows = build(a.ibex, a.data, a.work, a.set, a.distractors)
    queries = [os.path.join(a.data, r["relative_path"]) for r in rows]
    firearm = {q: r["firearm_id"] for q, r in zip(queries, rows)}
    common = ["query", "--json", "--exclude-self", "--top", "0", lib] + queries
    if a.shortlist:
        common += ["--shortlist", str(a.shortlist)]
    if a.threads:
        common += ["--threads", str(a.threads)]
    out = {}
    timing = {}
    for mode in ("all", str(a.exact)):
        path = os.path.join(a.work, f"q-{a.distractors}-exact-{mode}.jsonl")
        if os.path.exists(path):  # reused: a run of hours is not repeated by accident
            timing[mode] = None
        else:
            timing[mode] = run([a.ibex] + common + ["--exact", mode], path)
        out[mode] = {json.loads(l)["query"]: json.loads(l) for l in open(path) if l.strip()}
    K = a.exact
    per, held, total, same_set, same_order = [], 0, 0, 0, 0
    def mate(c, q):  # synthetic firearms are named F01.. too: the set qualifies them
        return c["firearm_id"] == firearm[q] and c["id"].startswith(a.set + ":")

    for q in queries:
        ex, two = out["all"][q]["candidates"], out[str(K)][q]["candidates"]
        mates = [c["row"] for c in ex[:K] if mate(c, q)]
        top2 = [c["row"] for c in two[:K]]
        kept = sum(m in top2 for m in mates)
        held += kept
        total += len(mates)
        same_set += set(top2) == {c["row"] for c in ex[:K]}
        same_order += top2 == [c["row"] for c in ex[:K]]
        per.append({"query": os.path.basename(q), "mates_in_exhaustive_top": len(mates), "kept": kept,
                    "first_mate_rank_two_step": next((i + 1 for i, c in enumerate(two) if mate(c, q)), None)})
    s = {"bench": "query_two_step", "set": a.set, "distractors": a.distractors, "library": lib,
         "queries": len(queries), "shortlist": out["all"][queries[0]]["shortlist"], "exact_top": K,
         "mates_in_exhaustive_top_k": total, "kept_by_two_step": held,
         "recall": held / total if total else None, "top_k_same_set": same_set, "top_k_same_order": same_order,
         "exhaustive_wall_cpu_s": timing["all"], "two_step_wall_cpu_s": timing[str(K)],
         "per_query": per}
    print(json.dumps({k: v for k, v in s.items() if k != "per_query"}))
    if a.json_out:
        json.dump(s, open(a.json_out, "w"), indent=1)
    return 0 if total == held else 1


if __name__ == "__main__":
    sys.exit(main())
