"""Library.ingest against `ibex ingest` on a few real scans (suite real): the same rows,
and each library takes the other's scans as duplicates."""
import os
import shutil
import tempfile

import numpy as np

from common import DATA, check, finish, ibex, real_file, run

manifest = real_file("MANIFEST.tsv")
rows = [r for r in ibex.read_manifest(manifest, kind="cartridge") if r["set"] == "fadul"][:3]
rows += [r for r in ibex.read_manifest(manifest, kind="bullet")][:2]
tmp = tempfile.mkdtemp(prefix="ibex-pyreal-")
header = open(manifest).readline()
cols = header.rstrip("\n").split("\t")
mini = os.path.join(tmp, "MANIFEST.tsv")
with open(manifest) as f, open(mini, "w") as out:
    out.write(header)
    want = {os.path.relpath(r["path"], DATA) for r in rows}
    for line in f:
        fields = line.rstrip("\n").split("\t")
        if fields[0] in want:
            fields[0] = os.path.join(DATA, fields[0])
            out.write("\t".join(fields) + "\n")

py_lib, cli_lib = os.path.join(tmp, "py.h5"), os.path.join(tmp, "cli.h5")
with ibex.Library(py_lib, "w", sync=False) as lib:
    ev = lib.ingest(manifest=mini)
check("python ingest", [e["event"] for e in ev] == ["stored"] * len(rows), ev)
r = run("ingest", "--no-sync", cli_lib, "--manifest", mini)
check("ibex ingest", r.returncode == 0, r.stderr)

skip = ("ingest_time", "source_path")
with ibex.Library(py_lib) as p, ibex.Library(cli_lib) as c:
    check("same count", len(p) == len(c) == len(rows), (len(p), len(c)))
    for i in range(min(len(p), len(c))):
        a, b = p.specimen(i), c.specimen(i)
        diff = {k: (a[k], b[k]) for k in a if k not in skip and a[k] != b[k]}
        check(f"row {i} ({a['id']}) as ibex ingest stores it", not diff, diff)
        check(f"row {i} surface", np.array_equal(p.surface(i).heights, c.surface(i).heights,
                                                 equal_nan=True))
r = run("ingest", "--no-sync", py_lib, "--manifest", mini)
check("ibex ingest into the Python-made library: all duplicates",
      r.returncode == 0 and "stored 0" in r.stdout, r.stdout + r.stderr)
with ibex.Library(cli_lib, "w", sync=False) as lib:
    ev = lib.ingest(manifest=mini)
check("Library.ingest into the command's library: all duplicates",
      [e["event"] for e in ev] == ["skipped"] * len(rows), ev)
shutil.rmtree(tmp)
finish("python real library")
