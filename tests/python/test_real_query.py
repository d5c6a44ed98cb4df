"""Library.index() and Library.query() from Python against `ibex index` and `ibex query --json`
on the same five Fadul casings: the same ranked rows, counts, verdicts and log10 LRs (real);
the progress callback reaches its total, and returning True cancels (IBEX_ERR_CANCELLED)."""
import json
import os
import subprocess
import tempfile

from common import IBEX, check, finish, real_file
import ibex

names = ["Fadul_1-1", "Fadul_1-2", "Fadul_10-1", "Fadul_2-2", "Fadul_2-1"]
files = [real_file("cartridge", "fadul", n + ".x3p") for n in names]
with tempfile.TemporaryDirectory() as t:
    cli_lib, py_lib = os.path.join(t, "cli.h5"), os.path.join(t, "py.h5")
    ibx = IBEX
    for args in (["ingest", cli_lib] + files, ["index", cli_lib]):
        r = subprocess.run([ibx] + args, capture_output=True, text=True)
        check("ibex " + args[0], r.returncode == 0, r.stderr)
    r = subprocess.run([ibx, "query", "--json", "--exclude-self", "--shortlist", "3", cli_lib,
                        files[0]], capture_output=True, text=True)
    check("ibex query", r.returncode == 0, r.stderr)
    want = json.loads(r.stdout)["candidates"]
    with ibex.Library(py_lib, "w") as L:
        L.ingest(files)
        seen = []
        s = L.index(progress=lambda st, done, total, eta: seen.append((st, done, total)) and False)
        check("index: every specimen indexed", s["indexed"] == 5, s)
        check("index progress reaches its total", seen and seen[-1][1] == seen[-1][2], seen)
        got, info = L.query([files[0]], shortlist=3, exclude_self=True)
        check("query: cartridge, 5 indexed", info["kind"] == "cartridge" and info["indexed"] == 5, info)
        key = lambda c: (c["row"], c["id"], c["cmc"], c["cmc_high"], c["verdict"],
                         round(c["log10_lr"], 9))
        check("same ranked candidates as ibex query --json", [key(c) for c in got[0]] ==
              [key(c) for c in want], (got[0], want))
        try:
            L.query([files[0]], shortlist=3, progress=lambda *a: True)
            check("a progress callback returning True cancels", False)
        except ibex.Error as e:
            check("cancel raises IBEX_ERR_CANCELLED", e.status == "IBEX_ERR_CANCELLED", e)
finish("python query")
