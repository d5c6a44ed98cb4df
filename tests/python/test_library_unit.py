"""The reference library from Python: create, ingest, list, read back, reopen (suite unit)."""
import os
import shutil
import tempfile

import numpy as np

from common import check, finish, ibex, raises

tmp = tempfile.mkdtemp(prefix="ibex-pylib-")
scans = os.path.join(tmp, "scans")
os.makedirs(os.path.join(scans, "sub"))
paths = []
for i in range(3):
    s, _ = ibex.synth.cartridge(21, i, size=64)
    s.meta["case_number"] = f"C{i}"
    p = os.path.join(scans, "sub" if i == 2 else "", f"shot{i}.x3p")
    s.write(p, sync=False)
    paths.append(p)

path = os.path.join(tmp, "lib.h5")
with ibex.Library(path, "w", sync=False) as lib:
    ev = lib.ingest(scans, meta={"firearm_id": "G1", "agency": "lab"})
    check("ingest: all stored", [e["event"] for e in ev] == ["stored"] * 3, ev)
    check("ids below the directory", sorted(e["id"] for e in ev) ==
          ["shot0", "shot1", "sub/shot2"], [e["id"] for e in ev])
    again = lib.ingest(paths[0])
    check("duplicate skipped", again[0]["event"] == "skipped" and again[0]["row"] == 0, again)
    check("count", len(lib) == 3)
    row = lib.add(ibex.Surface(np.ones((20, 20)) * 1e-6, 2e-6), "flat", kind="cartridge")
    check("add from numpy", row == 3 and len(lib) == 4)
    raises(lambda: lib.add(ibex.Surface(np.ones((20, 20)) * 2e-6, 2e-6), "flat"),
           "IBEX_ERR_INTEGRITY")
    broken = os.path.join(tmp, "broken.x3p")
    ibex.synth.cartridge(22, 0, size=64)[0].write(broken, sync=False)
    with open(broken, "r+b") as f:
        f.truncate(300)
    e = raises(lambda: lib.ingest(broken), "IBEX_ERR_FORMAT")
    check("ingest names the refused file", e is not None and broken in e.message)
    ev = lib.ingest([broken], skip_errors=True)
    check("skip_errors reports it", ev[0]["event"] == "refused" and
          ev[0]["status"] == "IBEX_ERR_FORMAT" and len(lib) == 4, ev)

with ibex.Library(path) as lib:
    sp = lib.specimens()
    check("reopened", len(sp) == 4 and lib.params == "preprocess=none\n", lib.params)
    x = sp[lib.find_id("shot1")]
    check("row fields", x["kind"] == "cartridge" and x["region"] == "breech-face" and
          x["firearm_id"] == "G1" and x["meta"].get("agency") == "lab" and
          x["meta"].get("case_number") == "C1" and x["sha256"] == ibex.file_sha256(paths[1]),
          x)
    got = lib.surface(lib.find_id("shot1"))
    orig = ibex.read(paths[1])
    check("stored surface", np.array_equal(got.heights, orig.heights, equal_nan=True))
    check("find_hash", lib.find_hash(ibex.file_sha256(paths[0])) == lib.find_id("shot0"))
    check("unknown id", lib.find_id("nope") is None)

bad = os.path.join(tmp, "bad.h5")
open(bad, "w").write("not a library\n")
e = raises(lambda: ibex.Library(bad), "IBEX_ERR_FORMAT")
check("names the file", e is not None and bad in e.message, e and e.message)
raises(lambda: ibex.Library(path, "x"), "IBEX_ERR_IO")
shutil.rmtree(tmp)
finish("python library")
