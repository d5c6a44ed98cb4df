#!/usr/bin/env python3
"""ibex bench scale end to end on two tiny libraries (64 and 128 casings): the report is
complete and well formed (every figure present and finite, per size), the libraries
hold what was asked, recall counts are consistent, the PNG is a PNG, and the scratch
folder is removed. Timings are never asserted; the figures themselves are not either,
except what follows from the protocol (a query's own 4 mates bound the counts)."""
import json, math, os, sys, tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from harness import check, finish, run


def finite(x):
    return isinstance(x, (int, float)) and math.isfinite(x)


with tempfile.TemporaryDirectory() as t:
    out = os.path.join(t, "rep")
    env = dict(os.environ, TMPDIR=t)
    p = run("bench", "scale", "--sizes", "64,128", "--repeats", "2", "--queries", "2",
            "--stage2-pairs", "0", "--out", out, "--json", env=env)
    check("exit 0", p.returncode == 0, p.stderr)
    r = json.loads(p.stdout) if p.returncode == 0 else {}
    sizes = r.get("sizes", [])
    check("two sizes", [s.get("casings") for s in sizes] == [64, 128], sizes)
    for s in sizes:
        n = s["casings"]
        for k in ("library_bytes", "query_peak_rss_kib"):
            check("%d %s" % (n, k), isinstance(s.get(k), int) and s[k] > 0, s.get(k))
        b = s.get("build", {})
        for k in ("build_seconds", "build_cpu_seconds", "ingest_per_second", "index_seconds", "index_per_second"):
            check("%d build %s" % (n, k), finite(b.get(k)) and b[k] > 0, b.get(k))
        for k in ("query_after_open_seconds", "query_open_and_load_seconds", "query_search_seconds",
                  "query_process_cpu_seconds"):
            v = s.get(k, {})
            check("%d %s" % (n, k), all(finite(v.get(x)) for x in ("median", "min", "max")) and
                  v["min"] <= v["median"] <= v["max"] and v.get("repeats") == 2, v)
        s1 = s.get("stage1", {})
        check("%d stage1 rows = casings" % n, s1.get("rows") == n and s1.get("dim") == 64, s1)
        check("%d index memory >= rows x d x 4" % n, s1.get("index_memory_bytes", 0) >= n * 64 * 4, s1)
        for k in ("query_seconds_1_thread", "query_seconds_2_threads", "stream_read_seconds_1_thread"):
            v = s1.get(k, {})
            check("%d stage1 %s" % (n, k), finite(v.get("median")) and v["median"] > 0, v)
        for k in ("fraction_of_stream_read_1_thread", "batch64_fraction_of_sgemm_1_thread", "sgemm_1024_gflops_1_thread"):
            check("%d stage1 %s" % (n, k), finite(s1.get(k)) and s1[k] > 0, s1.get(k))
        check("%d bound named" % n, "bandwidth" in s1.get("bound", ""), s1.get("bound"))
        rc = s.get("recall", {})
        check("%d recall protocol" % n, rc.get("queries") == 2 and rc.get("true_mates") == 8, rc)
        check("%d recall counts" % n, 0 <= rc.get("in_top_10", -1) <= rc.get("in_top_50", -1)
              <= rc.get("in_shortlist", -1) <= 8, rc)
        check("%d shortlist max(50, 1%%)" % n, rc.get("shortlist") == max(50, n // 100), rc)
        check("%d recall at shortlist" % n, finite(rc.get("recall_at_shortlist")) and
              abs(rc["recall_at_shortlist"] - rc.get("in_shortlist", -1) / 8) < 1e-12, rc)
    # a build without plots (ibex --version lists its features) draws no figure
    plots = " plots" in run("--version").stdout
    for f in ("scale.json", "scale.md") + (("scale.png",) if plots else ()):
        check("report has " + f, os.path.isfile(os.path.join(out, f)))
    if not plots:
        check("no figure without plots", not os.path.exists(os.path.join(out, "scale.png")))
    if os.path.isfile(os.path.join(out, "scale.png")):
        with open(os.path.join(out, "scale.png"), "rb") as fh:
            check("scale.png is a PNG", fh.read(8) == b"\x89PNG\r\n\x1a\n")
    left = [x for x in os.listdir(t) if x.startswith("ibex-scale-")]
    check("scratch folder removed", not left, left)
    p = run("bench", "scale", "--sizes", "12")
    check("bad --sizes: exit 2", p.returncode == 2, p.stderr)
    check("default grid recorded", r.get("grid") == 64 and "64 x 64" in r.get("what", ""), r.get("grid"))
    # another grid: its libraries are kept apart from the default ones in --dir
    keep = os.path.join(t, "keep")
    p = run("bench", "scale", "--sizes", "64", "--grid", "48", "--repeats", "1", "--queries", "1",
            "--stage2-pairs", "0", "--dir", keep, "--json")
    g = json.loads(p.stdout) if p.returncode == 0 else {}
    check("--grid 48: exit 0", p.returncode == 0, p.stderr)
    check("--grid 48 recorded", g.get("grid") == 48 and "48 x 48" in g.get("what", ""), g.get("what"))
    check("--grid 48 library tagged", os.path.isfile(os.path.join(keep, "scale-64-g48.h5")),
          os.listdir(keep) if os.path.isdir(keep) else "no folder")
    check("bad --grid: exit 2", run("bench", "scale", "--grid", "8").returncode == 2)

finish("bench scale")
