"""Through Python, the same answers as the command on the real data (suite real): Fadul 1-1
against 1-2 (every CMC count, verdict, score and the cell table) and a Hamby 44 bullet pair
(land-score matrix, phase, verdict)."""
import json

import numpy as np

from common import check, finish, ibex, real_file, run

a = real_file("cartridge", "fadul", "Fadul_1-1.x3p")
b = real_file("cartridge", "fadul", "Fadul_1-2.x3p")
cli = run("compare", "--json", a, b)
check("ibex compare --json", cli.returncode == 0, cli.stderr)
j = json.loads(cli.stdout)
r = ibex.compare(a, b)
print(f"Fadul 1-1 vs 1-2  ibex: cmc {j['cmc']} ({j['directions'][0]['cmc']}/"
      f"{j['directions'][1]['cmc']}) cmc_high {j['cmc_high']} {j['verdict']}   python: cmc "
      f"{r.cmc} ({r.directions[0]['cmc']}/{r.directions[1]['cmc']}) cmc_high {r.cmc_high} "
      f"{r.verdict}")
check("cmc", r.cmc == j["cmc"], (r.cmc, j["cmc"]))
check("cmc_high", r.cmc_high == j["cmc_high"], (r.cmc_high, j["cmc_high"]))
check("verdict", r.verdict == j["verdict"], (r.verdict, j["verdict"]))
check("score", abs(r.score - j["score"]) <= 1e-5 * max(1, abs(j["score"])), (r.score, j["score"]))
for k in range(2):
    pd, cd = r.directions[k], j["directions"][k]
    for key in ("cells_used", "cmc", "cmc_high"):
        check(f"direction {cd['direction']} {key}", pd[key] == cd[key], (pd[key], cd[key]))
    check(f"direction {cd['direction']} theta test", pd["high_pass"] ==
          cd["high_cmc_theta_test_passed"])
    check(f"direction {cd['direction']} theta", pd["theta"] == cd["theta"])
check("registration", (r.theta, r.dx, r.dy) == (j["registration"]["theta_deg"],
                                                j["registration"]["dx_points"],
                                                j["registration"]["dy_points"]))
check("likelihood ratio", r.lr and r.lr["log10_lr"] == j["lr"]["log10_lr"], (r.lr, j["lr"]))
cells = r.cells_list()
check("cell count", len(cells) == len(j["cells"]))
same = all(c["used"] == x["used"] and c["cmc"] == x["cmc"] and c["cmc_high"] == x["cmc_high"]
           and (not x["used"] or (abs(c["ccf"] - x["ccf"]) < 1e-5 and c["theta"] == x["theta"]
                                  and c["dx"] == x["dx"] and c["dy"] == x["dy"]))
           for c, x in zip(cells, j["cells"]))
check("cell table", same)
check("inputs", r.a["steps"] == j["a"]["preprocessing"] and
      r.b["already_processed"] == j["b"]["already_processed"])

# A bullet pair: Hamby 44 barrel 1, bullet 1 against bullet 2.
lands_a = [real_file("bullet", "hamby44", f"Barrel_1-Bullet_1-Land_{i}.x3p") for i in range(1, 7)]
lands_b = [real_file("bullet", "hamby44", f"Barrel_1-Bullet_2-Land_{i}.x3p") for i in range(1, 7)]
cli = run("compare", "--json", "--lands-a", *lands_a, "--lands-b", *lands_b)
check("ibex compare --json (bullets)", cli.returncode == 0, cli.stderr)
j = json.loads(cli.stdout)
br = ibex.compare_bullets(lands_a, lands_b)
print(f"Hamby 44 B1 vs B2  ibex: score {j['bullet_score']:.4f} phase {j['best_phase']} "
      f"{j['lands_matching']}/{j['lands_compared']} {j['verdict']}   python: score "
      f"{br.score:.4f} phase {br.best_phase} {br.n_matching}/{br.n_compared} {br.verdict}")
check("bullet verdict", br.verdict == j["verdict"] and br.reason == j["reason"],
      (br.verdict, br.reason, j["reason"]))
check("best phase", br.best_phase == j["best_phase"])
check("lands matching", (br.n_matching, br.n_compared) == (j["lands_matching"],
                                                           j["lands_compared"]))
check("bullet score", abs(br.score - j["bullet_score"]) < 1e-5)
m = np.array([[np.nan if v is None else v for v in row] for row in j["matrix"]])
check("land-score matrix", np.allclose(br.matrix, m, atol=1e-5, equal_nan=True))
sam = np.array([np.nan if v is None else v for v in j["phase_sam"]])
check("phase SAM", np.allclose(br.phase_sam, sam, atol=1e-5, equal_nan=True))
check("land figures", all(abs(p["crosscut_um"] - q["crosscut_um"]) < 1e-3
                          for p, q in zip(br.lands_a, j["a"]["lands"])))
# One land against one land.
cli = run("compare", "--json", lands_a[0], lands_b[4])
j = json.loads(cli.stdout)
lr = ibex.compare(lands_a[0], lands_b[4])
check("land pair", abs(lr.score - j["score"]) < 1e-5 and lr.verdict == j["verdict"] and
      lr.cms == j["result"]["cms"], (lr, j["score"]))
finish("python real compare")
