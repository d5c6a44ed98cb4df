#!/usr/bin/env python3
"""Pinned FFT plans (ibex wisdom, include/ibex/fft.h) as a user meets them: a size is
planned once and then found by every later process; two processes planning at once plan it
once between them (the lock); a file that is not wisdom is set aside and planned anew; an
unwritable place is a clear error for `ibex wisdom` and no failure for a comparison; and a
comparison on FFTW with pinned plans gives the counts of FFTW_ESTIMATE plans and of IBEX's
own FFT and the same cell correlations within 1e-5, and identical output run to run."""
import json, os, subprocess, sys, tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from harness import IBEX, expect, finish, run


def untimed(o):
    """o without its timings (keys ending in _ms), which differ from run to run."""
    if isinstance(o, dict):
        return {k: untimed(v) for k, v in o.items() if not k.endswith("_ms")}
    return [untimed(v) for v in o] if isinstance(o, list) else o


def wisdom(env, *grids):
    r = run("wisdom", "--json", *grids, env=env)
    return r, (json.loads(r.stdout) if r.returncode == 0 else None)


with tempfile.TemporaryDirectory() as d:
    path = os.path.join(d, "cache", "w.wisdom")
    env = dict(os.environ, IBEX_FFT_WISDOM=path)

    r, o = wisdom(env, "100")
    expect(r.returncode == 0 and o["file"] == path, "ibex wisdom: exit 0, names the file", r)
    expect(o and o["sizes"][0]["planned"] and o["planned"] == 1, "first use: the size is planned", r)
    expect(o and (o["sizes"][0]["fft_nx"], o["sizes"][0]["fft_ny"]) == (36, 36),
           "grid 100: cells of 12, regions of 36, transform 36x36")
    expect(os.path.getsize(path) > 0 and open(path).read().startswith("(fftw-"),
           "the file holds FFTW wisdom")
    r, o = wisdom(env, "100", "100x130")
    expect(o and not o["sizes"][0]["planned"] and o["sizes"][1]["planned"],
           "a new process finds the planned size and plans only the new one", r)
    expect(o and (o["sizes"][1]["fft_nx"], o["sizes"][1]["fft_ny"]) == (36, 48),
           "grid 100x130: regions 36 x 48, transform 36x48")

    # two processes at once: the lock makes one plan and the other find it
    p = [subprocess.Popen([IBEX, "wisdom", "--json", "200"], env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [json.loads(q.communicate(timeout=300)[0] or "null") for q in p]
    expect(all(outs) and sum(x["planned"] for x in outs) == 1,
           f"two processes at once plan the size once between them (got {outs})")

    r = run("wisdom", "--path", env=env)
    expect(r.returncode == 0 and r.stdout.strip() == path, "--path prints the file", r)

    # a file that is not wisdom
    bad = os.path.join(d, "bad.wisdom")
    open(bad, "w").write("(fftw-3.3.10 fftwf_wisdom #x1 garbage\n")
    r, o = wisdom(dict(os.environ, IBEX_FFT_WISDOM=bad), "64")
    expect(r.returncode == 0 and o["planned"] == 1, "a broken file is planned anew", r)
    expect(os.path.exists(bad + ".bad") and open(bad).read().startswith("(fftw-"),
           "the broken file is set aside as .bad and replaced by wisdom")

    # an unwritable place
    nowhere = dict(os.environ, IBEX_FFT_WISDOM="/proc/ibex-no/w.wisdom")
    r = run("wisdom", "64", env=nowhere)
    expect(r.returncode == 1 and "wisdom" in r.stderr, "unwritable: exit 1 with a message", r)
    r = run("wisdom", "--refresh", env=env)
    expect(r.returncode == 0 and "planned" in r.stderr, "--refresh plans anew", r)
    r = run("wisdom", "--frobnicate")
    expect(r.returncode == 2, "unknown option: exit 2", r)
    r = run("wisdom", "--help")
    expect(r.returncode == 0 and "IBEX_FFT_WISDOM" in r.stdout, "--help names the file", r)

    # pinned plans change no result: against FFTW_ESTIMATE, and from run to run
    cas = os.path.join(d, "cas")
    r = run("synth", "cartridge", "--out", cas, "--firearms", "1", "--per-firearm", "2",
            "--size", "300", "--seed", "5")
    expect(r.returncode == 0, "synth two casings", r)
    x3p = sorted(os.path.join(r_, f) for r_, _, fs in os.walk(cas) for f in fs if f.endswith(".x3p"))
    cmp = ["compare", "--json", "--kind", "cartridge", *x3p[:2]]
    fftw = dict(env, IBEX_FFT="fftw")  # the pinned plans serve FFTW's transforms
    pinned = [run(*cmp, env=fftw) for _ in range(2)]
    est = run(*cmp, env=dict(fftw, IBEX_FFT_WISDOM="off"))
    own = run(*cmp, env=env)  # IBEX's own FFT, the default
    fails = [r for r in pinned + [est, own] if r.returncode != 0]
    expect(not fails, "compare: exit 0", fails[0] if fails else None)
    if not fails:
        a, b = json.loads(pinned[0].stdout), json.loads(est.stdout)
        expect(untimed(a) == untimed(json.loads(pinned[1].stdout)),
               "pinned plans: identical output run to run (timings aside), planning or not")
        for other, label in ((b, "FFTW_ESTIMATE plans"), (json.loads(own.stdout), "IBEX's own FFT")):
            expect((a["cmc"], a["cmc_high"], a["verdict"]) == (other["cmc"], other["cmc_high"], other["verdict"]),
                   f"counts and verdict as with {label} ({a['cmc']}/{a['cmc_high']} vs {other['cmc']}/{other['cmc_high']})")
            diff = max(abs(p["ccf"] - q["ccf"]) for p, q in zip(a["cells"], other["cells"]) if p["used"])
            expect(diff <= 1e-5, f"cell correlations within 1e-5 of {label} (max {diff:.2e})")
            expect(all(p["used"] == q["used"] for p, q in zip(a["cells"], other["cells"])),
                   f"the same cells used as with {label}")
finish("cli_wisdom")
