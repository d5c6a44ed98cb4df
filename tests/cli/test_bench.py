#!/usr/bin/env python3
"""ibex bench end to end on synthetic scans written here (Python zipfile, independent of
IBEX): the report folder is complete and well-formed and its AUC follows from its own pairs
table; usage errors exit 2; bad manifests and bad scans exit 1 with one line naming the file."""
import json, math, os, random, sys, tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bench_report_check import check_report
from harness import expect, finish, run, write_x3p
def casing(rng, waves, n=128, d=6.25e-6):
    """A disc of a source's texture (plane waves), moved a little, plus measurement noise."""
    sx, sy = rng.uniform(-40e-6, 40e-6), rng.uniform(-40e-6, 40e-6)
    z, c = [], (n - 1) / 2
    for j in range(n):
        for i in range(n):
            x, y = (i - c) * d, (j - c) * d
            if math.hypot(x, y) > 0.38e-3:
                z.append(float("nan"))
                continue
            v = sum(math.sin(kx * (x + sx) + ky * (y + sy) + p) for kx, ky, p in waves)
            z.append(1e-6 * (v + rng.gauss(0, 0.8)))
    return z, n, n, d

def source(rng):
    out = []
    for _ in range(12):
        lam, a = rng.uniform(120e-6, 400e-6), rng.uniform(0, 2 * math.pi)
        out.append((2 * math.pi / lam * math.cos(a), 2 * math.pi / lam * math.sin(a),
                    rng.uniform(0, 2 * math.pi)))
    return out

HEADER = "relative_path\tkind\tset\tfirearm_id\tspecimen_id\tsame_source_key\n"

with tempfile.TemporaryDirectory() as tmp:
    data = os.path.join(tmp, "data")
    os.makedirs(os.path.join(data, "scans"))
    rng = random.Random(8)
    rows = []
    for s in range(3):
        waves = source(rng)
        for k in range(3):
            rel = f"scans/s{s}_{k}.x3p"
            z, nx, ny, d = casing(rng, waves)
            write_x3p(os.path.join(data, rel), nx, ny, z, d)
            rows.append(f"{rel}\tcartridge\tsynth\tG{s}\tG{s}-{k}\tsynth:G{s}\n")
    manifest = os.path.join(data, "M.tsv")
    with open(manifest, "w") as f:
        f.write(HEADER + "".join(rows))

    # Usage and help.
    expect(run("bench").returncode == 2, "ibex bench without a subcommand: exit 2")
    for args in (("bench", "--help"), ("bench", "accuracy", "--help"), ("bench", "speed", "--help")):
        r = run(*args)
        expect(r.returncode == 0 and "Usage" in r.stdout, f"{' '.join(args)}: exit 0 with usage")
    expect(run("bench", "frobnicate").returncode == 2, "unknown bench subcommand: exit 2")
    expect(run("bench", "accuracy", "--kind", "shoe", "--manifest", manifest).returncode == 2,
           "--kind shoe: exit 2")
    expect(run("bench", "accuracy", "--method", "nope", "--manifest", manifest).returncode == 2,
           "unknown method: exit 2")
    expect(run("bench", "accuracy", "--resamples", "x", "--manifest", manifest).returncode == 2,
           "bad --resamples: exit 2")
    r = run("bench", "accuracy", "--list-methods")
    expect(r.returncode == 0 and "baseline-ncc" in r.stdout and "baseline-ccf" in r.stdout,
           "--list-methods lists the baselines")

    # End to end, from another working directory: paths resolve against the manifest's folder.
    out = os.path.join(tmp, "report")
    r = run("bench", "accuracy", "--manifest", manifest, "--out", out, "--json",
            "--resamples", "300", cwd=tmp)
    expect(r.returncode == 0, f"bench accuracy on synthetic scans: exit 0 ({r.stderr.strip()})")
    if r.returncode == 0:
        try:
            js = json.loads(r.stdout)
        except ValueError:
            js = None
            expect(False, "--json prints JSON")
        rep = check_report(out, expect, js)
        st = rep["studies"][0]
        expect(st["n_scans"] == 9 and st["n_match"] == 9 and st["n_nonmatch"] == 27,
               "3 sources x 3 scans: 9 match and 27 non-match pairs")
        expect(rep["configuration"]["bootstrap"]["resamples"] == 300, "resamples recorded")
        listed = [l.split() for l in run("bench", "accuracy", "--list-methods").stdout.splitlines()]
        first = next((l[0] for l in listed if len(l) > 1 and l[1] == "cartridge"), None)
        expect(st["method"]["name"] == first, "the first listed cartridge method is the default")

    # Bad manifests and scans: exit 1, one line naming the problem file.
    def refused(args, name, what):
        r = run("bench", "accuracy", *args, "--out", os.path.join(tmp, "bad-report"), cwd=tmp)
        lines = r.stderr.strip().splitlines()
        expect(r.returncode == 1 and any(name in l for l in lines), f"{what}: exit 1 naming {name} "
               f"(got {r.returncode}: {r.stderr.strip()!r})")

    refused(["--manifest", os.path.join(tmp, "absent.tsv")], "absent.tsv", "missing manifest")
    nocol = os.path.join(tmp, "nocol.tsv")
    with open(nocol, "w") as f:
        f.write("path\tkind\nx.x3p\tcartridge\n")
    refused(["--manifest", nocol], "relative_path", "manifest without the columns")
    gone = os.path.join(data, "gone.tsv")
    with open(gone, "w") as f:
        f.write(HEADER + rows[0] + "scans/missing.x3p\tcartridge\tsynth\tG0\tx\tsynth:G0\n")
    refused(["--manifest", gone], "missing.x3p", "manifest naming a missing scan")
    trunc = os.path.join(data, "scans", "trunc.x3p")
    with open(os.path.join(data, rows[0].split("\t")[0]), "rb") as f:
        blob = f.read()
    with open(trunc, "wb") as f:
        f.write(blob[:300])
    badscan = os.path.join(data, "badscan.tsv")
    with open(badscan, "w") as f:
        f.write(HEADER + rows[0] + rows[1] + "scans/trunc.x3p\tcartridge\tsynth\tG0\tt\tsynth:G0\n")
    refused(["--manifest", badscan], "trunc.x3p", "truncated scan")
    lonely = os.path.join(data, "lonely.tsv")
    with open(lonely, "w") as f:
        f.write(HEADER + rows[0] + rows[3])
    refused(["--manifest", lonely], "known-match", "no known-match pairs")
    expect(not os.path.exists(os.path.join(tmp, "bad-report", "report.json")),
           "no report left by refused runs")

finish("bench cli")
