#!/usr/bin/env python3
"""ibex query --mpi (docs/reference/sharding.md): the sharded query prints exactly
what the single process prints.

One small synthetic library, bullet lands first (rows 0-11) then cartridge cases (rows
12-23), so under 'mpirun -n 2' rank 0's slab holds no cartridge rows at all and under
-n 3 the middle rank's slab is mixed; the last casing is stored after 'ibex index', so the
totals include a not-indexed row. Compared with the single-process 'ibex query':
  - stage 1 over every row (--stage1-only --top 0 --shortlist = all): one query (SGEMV)
    and a batch of two (SGEMM), JSON field by field (scores as printed, full precision),
    CSV byte for byte, text with the timing words removed; -n 1, 2 and 3;
  - both stages with a short shortlist and --exclude-self: cartridges (CMC) and a bullet
    land (land score), -n 2 and 3;
  - refusals end every rank with the single process's exit status and one message: an
    unreadable query, a library without an index (no rank left waiting: each run has a
    time limit).
With --real (suite real): the 40 Fadul casings of the real data (IBEX_DATA_DEFAULT) in
one library; stage 1 of all 40 casings as one batch over every row (CSV, -n 2 and 3), and
both stages for Fadul_F (--exclude-self, shortlist 4: CMC on real scans; -n 2).
Skips (77) when mpirun is absent (or the real data, with --real); when ibex was built
without MPI it checks that --mpi is a usage error (exit 2) and skips the rest.
usage: test_query_mpi.py [--real] (IBEX from the environment)
"""
import json, os, re, shutil, subprocess, sys, tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from harness import IBEX, check, failures

ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
           OMP_NUM_THREADS="1")
# Under AddressSanitizer (./run test with CI=true) Open MPI's own allocations, freed by no
# one at exit and partly in components it has already unloaded, read as leaks: leak
# checking is off for the ranks (memory errors are still caught), and stays on for the
# single-process runs of the same query code.
MPI_ENV = dict(ENV, ASAN_OPTIONS=(ENV.get("ASAN_OPTIONS", "") + ":detect_leaks=0").lstrip(":"))


def run(*args, ranks=0, timeout=240):
    cmd = [IBEX] + list(args)
    if ranks:
        cmd = [MPIRUN, "-n", str(ranks), "--oversubscribe"] + cmd[:2] + ["--mpi"] + cmd[2:]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, env=MPI_ENV if ranks else ENV, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, "", "timed out after %d s" % timeout
    return p.returncode, p.stdout, p.stderr


def strip_times(out, fmt):
    """The outputs without the stage timings (the only thing allowed to differ)."""
    if fmt == "json":
        objs = [json.loads(l) for l in out.splitlines()]
        for o in objs:
            o.pop("stage1_seconds", None)
            o.pop("stage2_seconds", None)
            o.pop("timing", None)
        return objs
    if fmt == "text":
        return re.sub(r"stage 1 [0-9.]+ s, stage 2 [0-9.]+ s", "stage 1 T, stage 2 T", out)
    return out


def same(name, args, ranks_list, fmt):
    rc, ref, err = run(*args)
    check("%s: single process" % name, rc == 0 and ref, err)
    if rc != 0:
        return
    want = strip_times(ref, fmt)
    for k in ranks_list:
        rc, out, err = run(*args, ranks=k)
        check("%s: -n %d exit 0" % (name, k), rc == 0, err)
        got = strip_times(out, fmt) if rc == 0 else None
        check("%s: -n %d prints the same %s" % (name, k, fmt), got == want, "\n--- single\n%s\n--- mpi\n%s" % (ref, out))


def real(work):
    data = os.environ.get("IBEX_DATA_DEFAULT", "")
    man = os.path.join(data, "MANIFEST.tsv")
    if not os.path.isfile(man):
        print("SKIP: real data not found (%s)" % man)
        return 77
    lines = open(man).read().splitlines()
    head = lines[0].split("\t")
    fad = [l for l in lines[1:] if dict(zip(head, l.split("\t"))).get("set") == "fadul"
           and dict(zip(head, l.split("\t"))).get("kind") == "cartridge"]
    sub = os.path.join(work, "data")
    os.makedirs(sub)
    with open(os.path.join(sub, "MANIFEST.tsv"), "w") as f:
        f.write("\n".join([lines[0]] + fad) + "\n")
    os.symlink(os.path.join(os.path.abspath(data), "cartridge"), os.path.join(sub, "cartridge"))
    lib = os.path.join(work, "fadul.h5")
    rc, _, err = run("ingest", lib, "--manifest", os.path.join(sub, "MANIFEST.tsv"), "--no-sync")
    check("ingest the Fadul casings", rc == 0 and len(fad) == 40, (len(fad), err))
    rc, _, err = run("index", lib)
    check("index", rc == 0, err)
    if failures():
        return 1
    qs = [os.path.join(data, dict(zip(head, l.split("\t")))["relative_path"]) for l in fad]
    same("Fadul stage 1, 40 queries x 40 rows", ["query", "--stage1-only", "--top", "0", "--shortlist", "40",
                                                 "--csv", lib] + qs, (2, 3), "csv")
    f = [q for q in qs if os.path.basename(q) == "Fadul_F.x3p"]
    same("Fadul_F both stages", ["query", "--json", "--exclude-self", "--shortlist", "4", "--top", "0", lib] + f,
         (2,), "json")
    print("%d failure(s)" % failures())
    return 1 if failures() else 0


def main():
    work = tempfile.mkdtemp(prefix="ibex_qmpi_")
    try:
        # Built without MPI: --mpi is a usage error naming the reason.
        rc, out, err = run("query", "--mpi", "x.h5", "y.x3p")
        if rc == 2 and "without MPI" in err:
            print("ok --mpi without MPI: usage error:", err.strip().splitlines()[0])
            print("SKIP: ibex built without MPI")
            return 77 if failures() == 0 else 1
        if "--real" in sys.argv[1:]:
            return real(work)
        b, c = os.path.join(work, "b"), os.path.join(work, "c")
        rc1, _, e1 = run("synth", "bullet", "--out", b, "--barrels", "2", "--bullets-per-barrel", "2", "--lands",
                         "3", "--size", "200", "--seed", "2", "--no-sync")
        rc2, _, e2 = run("synth", "cartridge", "--out", c, "--firearms", "4", "--per-firearm", "3", "--size", "64",
                         "--seed", "3", "--no-sync")
        if rc1 or rc2:
            print("synth failed:", e1, e2)
            return 1
        lib = os.path.join(work, "lib.h5")
        # The last casing is ingested after 'ibex index': one not-indexed row, in the last slab.
        man = open(os.path.join(c, "MANIFEST.tsv")).read().splitlines()
        with open(os.path.join(c, "first.tsv"), "w") as f:
            f.write("\n".join(man[:-1]) + "\n")
        for m in (os.path.join(b, "MANIFEST.tsv"), os.path.join(c, "first.tsv")):
            rc, _, err = run("ingest", lib, "--manifest", m, "--no-sync")
            check("ingest " + m, rc == 0, err)
        # Refusal before the index exists: every rank stops, exit 1 as without MPI, once.
        q1 = os.path.join(c, "F01", "F01-1.x3p")
        rc, _, err = run("query", lib, q1, ranks=2)
        check("no index: -n 2 exit 1", rc == 1, (rc, err))
        check("no index: one message, naming ibex index", err.count("ibex index") == 1, err)
        rc, _, err = run("index", lib)
        check("index", rc == 0, err)
        rc, _, err = run("ingest", lib, "--manifest", os.path.join(c, "MANIFEST.tsv"), "--no-sync")
        check("ingest one more casing", rc == 0, err)
        rc, out, err = run("query", "--stage1-only", lib, q1, ranks=2)
        check("not-indexed warning: printed once", rc == 0 and err.count("1 cartridge specimens are not indexed") == 1,
              err)
        bad = os.path.join(work, "bad.x3p")
        open(bad, "wb").write(b"not a zip")
        rc, _, err = run("query", lib, bad, ranks=3)
        check("unreadable query: -n 3 exit 1", rc == 1, (rc, err))
        check("unreadable query: one message naming the file", err.count("bad.x3p") == 1, err)

        q2 = os.path.join(c, "F03", "F03-2.x3p")
        land = os.path.join(b, "B01", "B01-Bullet_01-Land_2.x3p")
        all12 = ["--stage1-only", "--top", "0", "--shortlist", "12"]  # 11 indexed casings, 12 lands
        for fmt in ("json", "csv", "text"):
            flag = ["--" + fmt] if fmt != "text" else []
            same("stage 1, one query, " + fmt, ["query"] + all12 + flag + [lib, q1], (1, 2, 3), fmt)
        same("stage 1, batch of two", ["query"] + all12 + ["--json", lib, q1, q2], (2, 3), "json")
        same("stage 1, bullet land", ["query"] + all12 + ["--json", lib, land], (2, 3), "json")
        same("both stages, cartridge", ["query", "--json", "--exclude-self", "--shortlist", "3", "--top", "0", lib, q1],
             (2, 3), "json")
        same("both stages, bullet land", ["query", "--csv", "--exclude-self", "--shortlist", "4", lib, land],
             (2, 3), "csv")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("%d failure(s)" % failures())
    return 1 if failures() else 0


MPIRUN = shutil.which("mpirun")
if __name__ == "__main__":
    if not MPIRUN:
        print("SKIP: mpirun not found (apt-get install openmpi-bin)")
        sys.exit(77)
    sys.exit(main())
