#!/usr/bin/env python3
"""ibex compare --prealign: synthetic casings of one firearm scanned at a large
relative rotation (the generator writes each scan's rotation into MANIFEST.tsv) are
identified at that rotation with --prealign, while plain CMC, which searches -30..30 deg,
is not; the JSON reports the search; --help texts and the bench method list name it."""
import json, math, os, re, sys, tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from harness import expect, finish, run
def wrap(t):
    t = math.fmod(t, 360.0)
    return t - 360 if t > 180 else t + 360 if t <= -180 else t


with tempfile.TemporaryDirectory() as tmp:
    out = os.path.join(tmp, "s")
    # 240 x 240 points at 6.25 um: compared at their own spacing, so each CMC is quick
    r = run("synth", "cartridge", "--firearms", "2", "--per-firearm", "2", "--size", "240",
            "--spacing", "6.25e-6", "--seed", "7", "--out", out)
    expect(r.returncode == 0, f"synth: {r.stderr.strip()}")
    rot = {}
    with open(os.path.join(out, "MANIFEST.tsv")) as f:
        next(f)
        for line in f:
            col = line.rstrip("\n").split("\t")
            m = re.search(r"rotation ([0-9.]+) deg", col[13])
            if m:
                rot[col[0]] = float(m.group(1))
    a, b = "F01/F01-1.x3p", "F01/F01-2.x3p"
    expect(a in rot and b in rot, "manifest notes give the rotations")
    truth = wrap(rot[b] - rot[a])  # B turned by rot_B - rot_A lies on A
    expect(abs(truth) > 40, f"seed 7 gives a rotation outside CMC's window ({truth:.1f})")
    pa, pb = os.path.join(out, a), os.path.join(out, b)
    r = run("compare", "--prealign", "--json", pa, pb)
    expect(r.returncode == 0, f"compare --prealign: exit 0 ({r.stderr.strip()})")
    j = json.loads(r.stdout) if r.returncode == 0 else {}
    pre = j.get("prealign", {})
    expect(abs(wrap(pre.get("theta_found_deg", 1e9) - truth)) <= 3,
           f"prealign found {pre.get('theta_found_deg')} deg, truth {truth:.1f}")
    expect(pre.get("theta_applied_deg") == pre.get("theta_found_deg"), "a large turn is applied")
    expect(j.get("verdict") == "identification", f"verdict {j.get('verdict')} (cmc {j.get('cmc')})")
    theta = j.get("registration", {}).get("theta_deg", 1e9)
    expect(abs(wrap(theta - truth)) <= 6, f"registration {theta} deg, truth {truth:.1f}")
    expect(j.get("config", {}).get("prealign") is True, "config records prealign")
    r = run("compare", "--json", pa, pb)
    p = json.loads(r.stdout) if r.returncode == 0 else {}
    expect(r.returncode == 0 and "prealign" not in p, "plain compare has no prealign object")
    expect(-30 <= p.get("registration", {}).get("theta_deg", 1e9) <= 30,
           "plain CMC stays in its window")
    expect(p.get("cmc", 99) < j.get("cmc", 0) and p.get("verdict") != "identification",
           f"plain CMC misses the pair (cmc {p.get('cmc')} vs {j.get('cmc')} with prealign)")
    r = run("compare", "--prealign", pa, pb)
    expect(r.returncode == 0 and "prealign:" in r.stdout, "text output has a prealign line")

r = run("compare", "--help")
expect(r.returncode == 0 and "--prealign" in r.stdout, "compare --help names --prealign")
r = run("query", "--help")
expect(r.returncode == 0 and "--prealign" in r.stdout, "query --help names --prealign")
r = run("bench", "accuracy", "--list-methods")
expect(r.returncode == 0 and "cmc-prealign" in r.stdout, "bench lists cmc-prealign")
finish("compare prealign")
