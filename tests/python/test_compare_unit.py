"""Cartridge and bullet comparison and the index on small synthetic surfaces (suite unit)."""
import numpy as np

from common import check, finish, ibex, raises

# Two shots of one synthetic firearm against a third of another, small grids, 4 x 4 cells.
a, ta = ibex.synth.cartridge(11, 1, size=240, difficulty=0.1)
b = a.copy()
r = ibex.compare(a, b, cells=4, threads=1)
check("self: identification", r.verdict == "identification" and r.cmc >= 6, r)
check("directions", [d["direction"] for d in r.directions] == ["A->B", "B->A"] and
      r.cmc == min(d["cmc"] for d in r.directions) and
      r.cmc_high == min(d["cmc_high"] for d in r.directions))
check("cell table", r.cells.dtype == ibex.CELL_DTYPE and len(r.cells) == 32 and
      set(np.unique(r.cells["direction"])) <= {0, 1} and
      int(r.cells["cmc"][:16].sum()) == r.directions[0]["cmc"], r.cells[:2])
check("cells as dicts", r.cells_list()[0]["direction"] == 0 and len(r.cells_list()) == 32)
check("preprocessing of both", r.a["spacing_out"] == r.b["spacing_out"] == r.spacing)
pa, pb = r.aligned()
check("aligned B on A's grid", pb.shape == pa.shape, (pa, pb))
check("no likelihood ratio off the default method", r.lr is None)
r8 = ibex.compare_cartridges(a, b, threads=1)
check("likelihood ratio for the default method", r8.lr and "log10_lr" in r8.lr, r8.lr)
pre = ibex.compare_cartridges(a, b, cells=4, threads=1, prealign=True)
check("prealign result", pre.prealign is not None and "theta_found" in pre.prealign)
land, _ = ibex.synth.land(1, 1, 0)
raises(lambda: ibex.compare_cartridges(a, land), "IBEX_ERR_ARG")

# Bullets: two synthetic bullets of one barrel, lands as Surfaces in the bullet's order.
A = [ibex.synth.land(5, 1, i, lands=4)[0] for i in range(4)]
B = [ibex.synth.land(5, 2, i, lands=4)[0] for i in range(4)]
sigs = [ibex.land_signature(s) for s in A]
check("signature", sigs[0].n > 0 and sigs[0].signature.shape == (sigs[0].n,) and
      sigs[0].axis in ("x", "y"), sigs[0])
lr = ibex.compare_lands(sigs[0], sigs[0])
check("land against itself", lr.score > 0.9 and lr.verdict == "identification", lr)
br = ibex.compare(A, B)
check("bullet result", isinstance(br, ibex.BulletResult) and br.matrix.shape == (4, 4) and
      len(br.pairs) == 16 and br.phase_sam.shape == (4,), br)
check("bullet pairs table", np.allclose(br.pairs["score"][br.pairs["compared"]],
                                        br.matrix[~np.isnan(br.matrix)]))
check("same barrel", br.verdict in ("identification", "inconclusive"), (br, br.reason))
one = ibex.compare_bullets([A[0]], B)
check("land to bullet", one.mode == "land-to-bullet" and one.best_land_score is not None, one)
raises(lambda: ibex.compare_lands(A[0], ibex.Surface(np.full((40, 40), np.nan), 1e-6)),
       "IBEX_ERR_FORMAT")

# Index: top k by dot product, ties by row.
ix = ibex.Index(4)
rows = np.eye(4, dtype=np.float32)
ix.add(rows)
ix.add(rows[:1])
got, scores = ix.query(rows[0], k=3)
check("index query", list(got) == [0, 4, 1] and scores[0] == 1, (got, scores))
got, _ = ix.query(rows, k=6)
check("index batch", got.shape == (4, 6) and got[3, 0] == 3 and got[0, 5] == -1, got)
raises(lambda: ix.add([[np.nan, 0, 0, 0]]), "IBEX_ERR_ARG")
finish("python compare")
