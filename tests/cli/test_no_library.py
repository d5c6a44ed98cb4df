"""A build without HDF5 (-Dhdf5=disabled): the commands that need the reference library refuse
with exit 1 and a message naming what is missing; nothing is created."""
import os, sys, tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from harness import check, finish, run, write_x3p

with tempfile.TemporaryDirectory() as tmp:
    scan = os.path.join(tmp, "a.x3p")
    write_x3p(scan, 32, 32, [float(i % 7) * 1e-6 for i in range(32 * 32)])
    lib = os.path.join(tmp, "lib.h5")
    for args in (["ingest", lib, scan], ["index", lib], ["query", lib, scan]):
        r = run(*args)
        check(" ".join(args[:1]) + " refuses", r.returncode == 1, r.stderr)
        check(" ".join(args[:1]) + " says HDF5 is not built", "without the HDF5" in r.stderr, r.stderr)
    check("no library file written", not os.path.exists(lib))
    r = run("compare", scan, scan)
    check("compare still works", r.returncode in (0, 1) and "without" not in r.stderr, r.stderr)
finish("no_library")
