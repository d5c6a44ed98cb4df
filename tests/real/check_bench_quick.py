#!/usr/bin/env python3
"""`ibex bench accuracy --quick` and `ibex bench speed --quick` on the shared real scans: the
reports are complete and well-formed (keys, PNG validity and size, Markdown links, figures
consistent with the pairs table). Accuracy values themselves are not asserted here."""
import json, os, sys, tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bench_report_check import check_report
from harness import expect, finish, run

data = os.environ.get("IBEX_DATA") or os.environ["IBEX_DATA_DEFAULT"]
manifest = os.path.join(data, "MANIFEST.tsv")
if not os.path.isfile(manifest):
    print(f"SKIP: no real data at {data} (set IBEX_DATA)")
    sys.exit(77)
with tempfile.TemporaryDirectory() as tmp:
    out = os.path.join(tmp, "quick")
    r = run("bench", "accuracy", "--quick", "--manifest", manifest, "--out", out, "--json", timeout=900)
    expect(r.returncode == 0, f"bench accuracy --quick: exit 0 ({r.stderr.strip()})")
    if r.returncode == 0:
        rep = check_report(out, expect, json.loads(r.stdout))
        kinds = {s["kind"]: s for s in rep["studies"]}
        expect(set(kinds) == {"cartridge", "bullet"}, "quick runs both kinds")
        expect(rep["configuration"]["quick"] is True, "quick recorded")
        c, b = kinds.get("cartridge", {}), kinds.get("bullet", {})
        expect(c.get("sets") == "fadul" and c.get("n_scans") == 8 and c.get("n_pairs") == 28,
               "quick: 8 Fadul casings, 28 pairs")
        expect(b.get("sets") == "hamby44-small" and b.get("n_scans") == 12 and b.get("n_pairs") == 66,
               "quick: the 12 Hamby 44 small lands, 66 pairs")
    sp = os.path.join(tmp, "speed")
    r = run("bench", "speed", "--quick", "--manifest", manifest, "--out", sp, timeout=900)
    expect(r.returncode == 0, f"bench speed --quick: exit 0 ({r.stderr.strip()})")
    if r.returncode == 0:
        with open(os.path.join(sp, "speed.json")) as f:
            s = json.load(f)
        for k in ("machine", "configuration", "fft", "comparisons", "peak_memory_kib"):
            expect(k in s, f"speed.json has '{k}'")
        for k in ("fftw_measure_plan_1_thread", "fftw_measure_plan_2_threads",
                  "estimate_plan_1_thread", "estimate_plan_2_threads"):
            f = s.get("fft", {}).get(k, {})
            expect(f.get("min", 0) > 0 and f["min"] <= f["median"] <= f["max"],
                   f"fft {k}: median within its spread")
        for kind in ("cartridge", "bullet"):
            c = s.get("comparisons", {}).get(kind, {})
            expect(c.get("comparisons_per_second_1_thread", {}).get("median", 0) > 0,
                   f"{kind} comparisons/s measured")
        x = s.get("exact_cmc", {})
        fs = x.get("fft_stage", {})
        expect(fs.get("size") == 216, f"exact CMC: the FFT stage at Fadul's transform size 216 ({fs.get('size')})")
        for k in ("fftw_estimate", "fftw_measure", "fftw_patient_pinned"):
            ps = fs.get(k, {}).get("per_search", {})
            expect(fs.get(k, {}).get("gflops", 0) > 0 and 0 < ps.get("min", 0) <= ps.get("median", 0) <= ps.get("max", 0),
                   f"exact CMC FFT stage {k}: GFLOP/s and a spread")
        cm = x.get("comparison", {})
        expect(cm.get("cpu_seconds", {}).get("median", 0) > 0 and cm.get("peak_memory_mib", {}).get("median", 0) > 0
               and cm.get("cmcR_cpu_seconds") == 61.0 and cm.get("cpu_ratio_cmcR_over_ibex", 0) > 0,
               f"exact CMC comparison: CPU, memory and the ratio to cmcR ({cm})")
        md = open(os.path.join(sp, "speed.md")).read() if os.path.isfile(os.path.join(sp, "speed.md")) else ""
        expect("## Exact CMC" in md, "speed.md written, with the exact CMC section")

finish("bench quick")
