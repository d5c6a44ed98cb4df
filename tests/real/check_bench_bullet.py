#!/usr/bin/env python3
"""`ibex bench accuracy --method bullet` on the shared bullet sets: lands are grouped into
bullets, every within-set bullet pair is scored once with barrel-level truth (firearm_id),
and no set's land-score model is fitted on that set or on a copy of its lands (Hamby 44 small
holds Hamby 44's lands downsampled). On the Houston bullets, whose land model comes from the
Hamby studies only, the verdicts are those of the issue's target: BA-B30 vs BA-B50 (same
barrel) identification, BB-B50 vs each elimination."""
import csv, json, os, re, sys, tempfile
from collections import defaultdict

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from harness import run, check, finish

data = os.environ.get("IBEX_DATA") or os.environ.get("IBEX_DATA_DEFAULT", "")
man = os.path.join(data, "MANIFEST.tsv")
if not os.path.isfile(man):
    print("SKIP: no real data (set IBEX_DATA)")
    sys.exit(77)
rows = [r for r in csv.DictReader(open(man), delimiter="\t")
        if r["kind"] == "bullet" and r["same_source_key"]]
# expected bullets: set + file name without its land part
bullets = defaultdict(set)
for r in rows:
    name = re.sub(r"[-_ ]?Land[-_ ]?\d+(?=\.x3p$)|[-_ ]L\d+(?=\.x3p$)", "", os.path.basename(r["relative_path"]))
    bullets[r["set"]].add(name)
want_pairs = sum(len(b) * (len(b) - 1) // 2 for b in bullets.values())

with tempfile.TemporaryDirectory() as tmp:
    r = run("bench", "accuracy", "--method", "bullet", "--manifest", man, "--out", tmp,
            "--resamples", "200", "--json", timeout=900)
    if check("bench accuracy --method bullet exits 0", r.returncode == 0, r.stderr):
        rep = json.loads(r.stdout)
        st = rep["studies"][0]
        check("one bullet study", len(rep["studies"]) == 1 and st["kind"] == "bullet")
        check(f"every within-set bullet pair once ({want_pairs})", st["n_pairs"] == want_pairs,
              f"{st['n_pairs']} pairs")
        why = st["in_sample"]["why"]
        fits = dict(re.findall(r"([\w.-]+): land model fitted on ([^()]+?) \(", why))
        check("a land model per set", set(fits) == set(bullets), why)
        for s, on in fits.items():
            used = [t.strip() for t in on.split(",")]
            check(f"{s}: not fitted on itself", s not in used, on)
            if s.startswith("hamby44"):
                check(f"{s}: not fitted on a copy of its lands", not any(t.startswith("hamby44") for t in used), on)
        check("houston fitted on the Hamby studies only", fits.get("houston") == "hamby44, hamby252",
              fits.get("houston"))
        pairs = list(csv.DictReader(open(os.path.join(tmp, "pairs_bullet.tsv")), delimiter="\t"))
        hou = {tuple(sorted((os.path.basename(p["a"]), os.path.basename(p["b"])))): p
               for p in pairs if p["set"] == "houston"}
        verdict = {0: "identification", 1: "inconclusive", 2: "elimination", 3: "unsuitable"}
        def v(a, b):
            p = hou.get(tuple(sorted((a, b))))
            return verdict.get(int(float(p["verdict_code"]))) if p else None
        if "houston" in bullets:
            check("houston BA-B30 vs BA-B50: identification", v("HFSCP-BA-B30", "HFSCP-BA-B50") == "identification",
                  v("HFSCP-BA-B30", "HFSCP-BA-B50"))
            for a in ("HFSCP-BA-B30", "HFSCP-BA-B50"):
                check(f"houston {a} vs BB-B50: elimination", v(a, "HFSCP-BB-B50") == "elimination", v(a, "HFSCP-BB-B50"))
        for p in pairs:
            check(f"{p['a']} vs {p['b']}: truth is the barrel", int(p["same_source"]) in (0, 1))
finish("bench bullet")
