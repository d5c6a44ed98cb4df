#!/usr/bin/env python3
"""ibex index / ibex query on a small synthetic library.

Checks: query before index is refused (exit 1, tells the user to run 'ibex index');
index fits a basis; an incremental index keeps earlier rows bit-identical (read back
with h5dump) and does not refit below the doubling point; a held-out casing of firearm
F01 gets an F01 casing at rank 1 after stage 2 (the synthetic ground truth); --csv and
--json shapes; wrong kind, other descriptor parameters, unreadable query: exit 1 with
a clear message; usage errors: exit 2.
usage: test_query.py MODELTOOL (IBEX from the environment)
"""
import json, os, shutil, subprocess, sys, tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import harness
from harness import check

MODELTOOL = sys.argv[1]


def run(*args):
    p = harness.run(*args)
    return p.returncode, p.stdout, p.stderr
def rows(lib, out):
    """Bytes of /index/descriptors (h5dump binary, little-endian float32)."""
    p = subprocess.run(["h5dump", "-d", "/index/descriptors", "-b", "LE", "-o", out, lib], capture_output=True)
    if p.returncode != 0:
        return None
    return open(out, "rb").read()


def main():
    work = tempfile.mkdtemp(prefix="ibex_query_")
    try:
        syn = os.path.join(work, "syn")
        rc, _, err = run("synth", "cartridge", "--out", syn, "--firearms", "4", "--per-firearm", "4", "--size",
                         "256", "--difficulty", "0.3", "--seed", "6", "--no-sync")
        if rc != 0:
            print("synth failed:", err)
            return 1
        lines = open(os.path.join(syn, "MANIFEST.tsv")).read().splitlines()
        # The CMC of stage 2 searches rotations within +-30 degrees (cmcR's grid), while the
        # generator turns every casing by a random angle: hold out the F01 casing that has
        # the closest F01 mate in rotation and require that gap to be within 24 degrees.
        rot = {}
        for l in lines[1:]:
            f = l.split("\t")
            if f[3] == "F01":
                rot[f[0]] = float(f[-1].split("rotation ")[1].split(" deg")[0])
        gap = lambda a, b: min(abs(a - b) % 360, 360 - abs(a - b) % 360)
        held, g = min(((a, min(gap(rot[a], rot[b]) for b in rot if b != a)) for a in sorted(rot)),
                      key=lambda t: t[1])
        print("held-out %s, nearest F01 mate %.1f degrees away" % (held, g))
        check("seed gives an F01 pair within the CMC rotation range", g <= 24, g)
        body = [l for l in lines[1:] if not l.startswith(held)]
        first, second = body[:8], body[8:]  # 8 then 7: 15 < 2 x 8, no refit
        for name, part in (("m1.tsv", first), ("m2.tsv", second)):
            with open(os.path.join(syn, name), "w") as f:
                f.write("\n".join([lines[0]] + part) + "\n")
        lib = os.path.join(work, "lib.h5")
        query = os.path.join(syn, held)
        rc, _, err = run("ingest", lib, "--manifest", os.path.join(syn, "m1.tsv"), "--no-sync")
        check("ingest 8", rc == 0, err)

        rc, out, err = run("query", lib, query)
        check("query without index: exit 1", rc == 1, (rc, err))
        check("query without index: says run ibex index", "ibex index" in err and lib in err, err)

        rc, out, err = run("index", "--json", lib)
        s = json.loads(out) if rc == 0 else {}
        check("index: fits on 8", rc == 0 and s.get("refit") is True and s.get("pca_fit_count") == 8
              and s.get("indexed") == 8, (rc, out, err))
        before = rows(lib, os.path.join(work, "r1.bin"))
        check("index: 8 x 64 float32 rows", before is not None and len(before) == 8 * 64 * 4)

        rc, _, err = run("ingest", lib, "--manifest", os.path.join(syn, "m2.tsv"), "--no-sync")
        check("ingest 7 more", rc == 0, err)
        rc, out, err = run("index", lib, "--json")  # options after the operand
        s = json.loads(out) if rc == 0 else {}
        check("incremental index: 7 new rows, no refit (15 < 2 x 8)",
              rc == 0 and s.get("refit") is False and s.get("indexed") == 7 and s.get("new_rows") == 7,
              (rc, out, err))
        after = rows(lib, os.path.join(work, "r2.bin"))
        check("incremental index: 15 rows", after is not None and len(after) == 15 * 64 * 4)
        check("incremental index: first 8 rows bit-identical", after is not None and after[:len(before)] == before)
        rc, out, _ = run("index", "--json", lib)
        s = json.loads(out) if rc == 0 else {}
        check("index again: nothing to do", rc == 0 and s.get("indexed") == 0 and s.get("refit") is False, out)
        check("index again: rows unchanged", rows(lib, os.path.join(work, "r3.bin")) == after)

        rc, out, err = run("query", "--json", "--shortlist", "5", lib, query, "--top", "0")
        res = [json.loads(l) for l in out.splitlines()] if rc == 0 else []
        ok = rc == 0 and len(res) == 1 and len(res[0]["candidates"]) == 5
        check("query json: one object, 5 candidates", ok, (rc, out, err))
        if ok:
            c = res[0]["candidates"]
            check("query: an F01 casing at rank 1", c[0]["firearm_id"] == "F01", c[0])
            # the library keeps the LR calibration it was indexed with (ibex index stores it)
            check("query: LRs from the library's stored calibration",
                  res[0].get("lr_calibration", "").startswith("cartridge-cmc/")
                  and all("log10_lr" in x and "lr_verbal" in x for x in c), res[0].get("lr_calibration"))
            check("query: the top mate's LR supports same source", c[0]["log10_lr"] > 0, c[0])
            if shutil.which("h5dump"):
                p = subprocess.run(["h5dump", "-a", "/index/cartridge/calibration", lib],
                                   capture_output=True, text=True)
                check("index stored the calibration in the library",
                      p.returncode == 0 and "id=cartridge-cmc/" in p.stdout, p.stdout[-300:])
            check("query: ranks 1..5, scores descending",
                  [x["rank"] for x in c] == [1, 2, 3, 4, 5] and all(c[i]["score"] >= c[i + 1]["score"] for i in range(4)))
            check("query: verdict words", all(x["verdict"] in ("identification", "inconclusive", "elimination",
                                                               "unsuitable") for x in c))
            # two-step stage 2: screen the shortlist of 14, exhaustive CMC for the best 3
            rc, out, err = run("query", "--json", "--shortlist", "14", "--exact", "3", "--top", "0", lib, query)
            rc2, out2, err2 = run("query", "--json", "--shortlist", "14", "--exact", "all", "--top", "0", lib, query)
            ok2 = rc == 0 and rc2 == 0
            check("query --exact 3 / all: exit 0", ok2, (rc, err, rc2, err2))
            if ok2:
                two, full = json.loads(out), json.loads(out2)
                t, f = two["candidates"], full["candidates"]
                check("two-step: 14 screened, exact_top 3", two["screened"] == 14 and two["exact_top"] == 3, two)
                check("two-step: ranks 1-3 exhaustive, the other 11 screened out",
                      all(x["score"] is not None and not x["screened_out"] for x in t[:3]) and
                      all(x["score"] is None and x["screened_out"] for x in t[3:]) and len(t) == 14, t)
                check("two-step: screened-out candidates by screen, descending",
                      all(t[i]["screen"] >= t[i + 1]["screen"] for i in range(3, 13)))
                check("two-step: every pair has a screen in [-1, 1]", all(-1 <= x["screen"] <= 1 for x in t))
                check("--exact all: one step, nothing screened",
                      full["screened"] == 0 and full["exact_top"] == "all" and
                      all(x["score"] is not None and "screened_out" not in x for x in f), full)
                exact = {x["row"]: x["score"] for x in f}
                check("two-step: the 3 exhaustive scores are those of the one-step run",
                      all(abs(exact[x["row"]] - x["score"]) < 1e-9 for x in t[:3]))
                mates = [x["row"] for x in f[:3] if x["firearm_id"] == "F01"]
                check("two-step recall: every F01 mate in the exhaustive top 3 is in the two-step top 3",
                      set(mates) <= {x["row"] for x in t[:3]}, (mates, [x["row"] for x in t[:3]]))
            for bad in ("0", "x", "-1"):
                rc, _, err = run("query", "--exact", bad, lib, query)
                check(f"--exact {bad}: usage error (exit 2)", rc == 2, (rc, err))
            # stage 1 alone agrees on the shortlist: the same 4 rows, by stage-1 cosine
            rc2, out2, _ = run("query", "--json", "--stage1-only", "--shortlist", "5", "--top", "0", lib, query)
            s1 = json.loads(out2)["candidates"] if rc2 == 0 else []
            check("stage1-only: same shortlist", sorted(x["row"] for x in s1) == sorted(x["row"] for x in c))
            check("stage1-only: sorted by cosine", all(s1[i]["stage1"] >= s1[i + 1]["stage1"] for i in range(4)))

        # batch of two queries (SGEMM path) with CSV: the same stage-1 lists as one by one
        other = os.path.join(syn, "F02/F02-2.x3p")
        rc, out, err = run("query", "--csv", "--stage1-only", "--shortlist", "3", lib, query, other)
        recs = out.splitlines()
        check("csv: header + 6 rows", rc == 0 and recs[0].startswith("query,rank,row,id") and len(recs) == 7,
              (rc, out, err))
        rc1, o1, _ = run("query", "--csv", "--stage1-only", "--shortlist", "3", lib, other)
        check("batch = single query (stage 1)", rc1 == 0 and o1.splitlines()[1:] == recs[4:], (o1, out))
        rc, out, _ = run("query", "--json", "--stage1-only", "--exclude-self", "--shortlist", "3", lib, other)
        ids = [x["id"] for x in json.loads(out)["candidates"]] if rc == 0 else []
        check("exclude-self drops the query's own specimen", rc == 0 and len(ids) == 3 and
              not any(i.endswith("F02-2") for i in ids), ids)

        # --within: both stages over the listed specimens only, the stage-1 order of the
        # full search kept among them
        rc, out, _ = run("query", "--json", "--stage1-only", "--shortlist", "15", "--top", "0", lib, query)
        full = [x["id"] for x in json.loads(out)["candidates"]] if rc == 0 else []
        pick = full[1::3]  # 5 ids spread over the ranking
        wl = os.path.join(work, "within.txt")
        with open(wl, "w") as f:
            f.write("# picked\n\n" + "\n".join("  %s " % i for i in pick) + "\n")
        rc, out, err = run("query", "--json", "--stage1-only", "--top", "0", lib, query, "--within", wl)
        got = [x["id"] for x in json.loads(out)["candidates"]] if rc == 0 else []
        check("within: exactly the listed ids, in stage-1 order", len(full) == 15 and got == pick, (got, pick, err))
        rc, out, err = run("query", "--json", "--within", wl, "--shortlist", "2", lib, query)
        c = json.loads(out)["candidates"] if rc == 0 else []
        check("within + stage 2: scored candidates from the list", rc == 0 and len(c) == 2 and
              all(x["id"] in pick and x["verdict"] for x in c), (rc, out, err))
        with open(wl, "a") as f:
            f.write("no-such-id\n")
        rc, _, err = run("query", "--within", wl, lib, query)
        check("within: unknown id refused with file and line", rc == 1 and "within.txt:8" in err and
              "no-such-id" in err, (rc, err))
        with open(wl, "w") as f:
            f.write("# nothing\n")
        rc, _, err = run("query", "--within", wl, lib, query)
        check("within: empty list refused", rc == 1 and "names no specimen" in err, (rc, err))
        rc, _, err = run("query", "--within", os.path.join(work, "none.txt"), lib, query)
        check("within: missing list refused", rc == 1 and "none.txt" in err, (rc, err))

        rc, _, err = run("query", "--kind", "bullet", lib, query)
        check("--kind bullet on a cartridge library: exit 1", rc == 1 and "no bullet specimens" in err and query in err,
              (rc, err))
        rc, _, err = run("query", lib, os.path.join(work, "missing.x3p"))
        check("missing query file: exit 1", rc == 1 and "missing.x3p" in err, (rc, err))
        for args in ([], [lib], ["--top", "x", lib, query], ["--json", "--csv", lib, query], ["--bogus", lib, query],
                     ["--kind", "pistol", lib, query]):
            rc, _, err = run("query", *args)
            check("usage %s: exit 2" % args, rc == 2 and err.strip(), (rc, err))
        for args in ([], ["a.h5", "b.h5"], ["--bogus", lib]):
            rc, _, err = run("index", *args)
            check("index usage %s: exit 2" % args, rc == 2, (rc, err))

        # a library indexed with other descriptor parameters
        lib2 = os.path.join(work, "lib2.h5")
        shutil.copy(lib, lib2)
        p = subprocess.run([MODELTOOL, "settext", lib2, "cartridge", "descriptor_opts",
                            "ibex-descriptor-v1 spacing=2e-05"], capture_output=True, text=True)
        check("modeltool", p.returncode == 0, p.stderr)
        rc, _, err = run("query", lib2, query)
        check("other parameters: exit 1, says --refit", rc == 1 and "other descriptor parameters" in err
              and "--refit" in err, (rc, err))
        rc, _, err = run("index", lib2)
        check("index on other parameters: exit 1", rc == 1 and "--refit" in err, (rc, err))
        rc, out, err = run("index", "--refit", "--json", lib2)
        s = json.loads(out) if rc == 0 else {}
        check("index --refit repairs it", rc == 0 and s.get("refit") is True and s.get("indexed") == 15, (rc, out, err))
        rc, _, err = run("query", "--stage1-only", lib2, query)
        check("query after refit", rc == 0, err)

        # bullets: one land scan per specimen; the query land's same-land mate (other bullet
        # of the barrel) comes first after the land comparison of stage 2
        sb = os.path.join(work, "sb")
        rc, _, err = run("synth", "bullet", "--out", sb, "--barrels", "2", "--bullets-per-barrel", "2", "--lands",
                         "4", "--seed", "3", "--no-sync")
        check("synth bullet", rc == 0, err)
        blib = os.path.join(work, "bullets.h5")
        rc, _, err = run("ingest", blib, "--manifest", os.path.join(sb, "MANIFEST.tsv"), "--no-sync")
        check("ingest bullets", rc == 0, err)
        rc, out, err = run("index", "--json", blib)
        s = json.loads(out) if rc == 0 else {}
        check("index bullets: 16 bullet rows", rc == 0 and s["kinds"]["bullet"]["indexed"] == 16, (rc, out, err))
        blines = open(os.path.join(sb, "MANIFEST.tsv")).read().splitlines()
        bhead = blines[0].split("\t")
        brow = dict(zip(bhead, blines[1].split("\t")))
        bq = os.path.join(sb, brow["relative_path"])
        rc, out, err = run("query", "--json", "--exclude-self", "--top", "3", blib, bq)
        c = json.loads(out)["candidates"] if rc == 0 else []
        check("bullet query: same land at rank 1", c and c[0]["same_source_key"] == brow["same_source_key"],
              (rc, out, err))
        check("bullet query: land score, cms, verdict", c and 0 <= c[0]["score"] <= 1 and "cms" in c[0]
              and c[0]["verdict"] in ("identification", "inconclusive", "elimination"), c[:1])
        rc, _, err = run("query", lib, bq)
        check("bullet query on a cartridge library: exit 1", rc == 1 and "no bullet specimens" in err, (rc, err))
        rc, _, err = run("query", blib, query)
        check("cartridge query on a bullet library: exit 1", rc == 1 and "no cartridge specimens" in err, (rc, err))
        rc, _, err = run("query", lib, query, bq)
        check("mixed kinds: exit 1", rc == 1 and "separately" in err, (rc, err))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("%d failure(s)" % harness.failures())
    return 1 if harness.failures() else 0


if __name__ == "__main__":
    sys.exit(main())
