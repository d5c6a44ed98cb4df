#!/usr/bin/env python3
"""ibex compare on cartridge cases as a user meets it: a textured breech-face-like surface
against a shifted copy (identification, JSON fields, per-cell table), against an unrelated
texture (no identification), and refused inputs (tiny, land-shaped, missing; usage errors).
Inputs are X3P files written here with Python's zipfile (independent of IBEX)."""
import json, math, os, random, sys, tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from harness import expect, finish, run, write_x3p
def texture(seed):
    rnd = random.Random(seed)
    waves = []
    for _ in range(40):
        lam, ang = 2.5 + 3.5 * rnd.random(), 2 * math.pi * rnd.random()
        waves.append((math.cos(ang) / lam, math.sin(ang) / lam, 0.5 + rnd.random(), 2 * math.pi * rnd.random()))
    return waves


def breech_face(waves, n, tx=0.0, ty=0.0):
    """Heights on an annulus (NaN outside, as in a cropped scan), texture shifted by (tx, ty)."""
    c = (n - 1) / 2
    z = []
    for y in range(n):
        for x in range(n):
            r = math.hypot(x - c, y - c)
            if 0.36 * c < r < 0.98 * c:
                px, py = x + tx, y + ty
                z.append(1e-6 * sum(a * math.sin(2 * math.pi * (u * px + v * py) + p) for u, v, a, p in waves))
            else:
                z.append(float("nan"))
    return z


with tempfile.TemporaryDirectory() as d:
    n = 160
    w1, w2 = texture(1), texture(2)
    a, b, other = (os.path.join(d, f) for f in ("a.x3p", "b.x3p", "other.x3p"))
    write_x3p(a, n, n, breech_face(w1, n), 6.25e-6)
    write_x3p(b, n, n, breech_face(w1, n, 4, -2), 6.25e-6)
    write_x3p(other, n, n, breech_face(w2, n), 6.25e-6)

    r = run("compare", a, b, "--json", "--kind", "cartridge")
    expect(r.returncode == 0, f"compare A B --json: exit 0 ({r.stderr.strip()})")
    try:
        o = json.loads(r.stdout)
        for key in ("verdict", "cmc", "cmc_high", "score", "cells", "directions", "registration"):
            expect(key in o, f"JSON has {key}")
        expect(o["verdict"] == "identification", f"shifted copy: identification (got {o['verdict']})")
        expect(o["cmc"] >= 6 and o["cmc_high"] >= 6, "shifted copy: CMC counts >= 6")
        expect(len(o["cells"]) == 128, "cells: 8x8 per direction")
        reg = o["registration"]
        # B is the texture moved by (+4, -2): A's cells sit at (-4, +2) in B
        expect(reg["theta_deg"] == 0 and reg["dx_points"] == -4 and reg["dy_points"] == 2,
               f"registration recovers the shift (got {reg})")
        used = [c for c in o["cells"] if c["used"]]
        expect(all(-1 <= c["ccf"] <= 1 for c in used), "cell CCF in [-1, 1]")
        expect(math.isfinite(o["score"]), "finite score")
        lr = o["lr"]
        lo, hi = lr["log10_bounds"]
        expect(lo < 0 < hi and lo <= lr["log10_lr"] <= hi, f"LR within its ELUB bounds ({lr})")
        expect(lr["log10_lr"] > 0 and lr["verbal"].endswith("for same source"),
               f"identified pair: LR supports same source ({lr})")
        expect(lr["calibration"] and lr["score"] == "cmc", "LR names its calibration and score")
    except (ValueError, KeyError) as e:
        expect(False, f"compare --json parses: {e}")

    r = run("compare", a, other)
    expect(r.returncode == 0 and "verdict:" in r.stdout and "identification " not in r.stdout.split("verdict:")[1][:20],
           "unrelated texture: not an identification")
    expect("CMC (original" in r.stdout and "High-CMC" in r.stdout, "text output shows both rules")
    expect("likelihood ratio:" in r.stdout and "for different sources" in r.stdout,
           "text output: the unrelated pair's LR supports different sources")
    r = run("compare", "--json", "--cells", "6", a, b)
    expect(r.returncode == 0 and json.loads(r.stdout).get("lr", 0) is None,
           "no LR outside the calibrated configuration (--cells 6)")

    tiny = os.path.join(d, "tiny.x3p")
    write_x3p(tiny, 20, 20, [1e-7 * (i % 7) for i in range(400)], 6.25e-6)
    r = run("compare", tiny, a, "--kind=cartridge")
    expect(r.returncode == 1 and "tiny.x3p" in r.stderr and "too small" in r.stderr,
           f"tiny surface refused naming the file ({r.stderr.strip()})")

    land = os.path.join(d, "land.x3p")
    write_x3p(land, 300, 60, [1e-7 * (i % 13) for i in range(300 * 60)], 6.25e-6)
    r = run("compare", "--kind", "cartridge", land, a)
    expect(r.returncode == 1 and "land.x3p" in r.stderr, "land-shaped scan refused as a breech face")

    r = run("compare", "--kind", "cartridge", os.path.join(d, "missing.x3p"), a)
    expect(r.returncode == 1 and "missing.x3p" in r.stderr, "missing file: exit 1 naming it")
    expect(run("compare", "--kind", "cartridge", a).returncode == 2, "one operand: exit 2")
    expect(run("compare", "--kind", "cartridge", "--cells", "0", a, b).returncode == 2, "--cells 0: exit 2")
    r = run("compare", "--kind", "cartridge", "--help")
    expect(r.returncode == 0 and "ibex compare" in r.stdout, "compare --help")

finish("compare cartridge")
