#!/usr/bin/env python3
"""The ibex command as a user meets it: exit codes, --help everywhere, options after operands,
JSON output, one-line errors naming the file, and no output file left by a refused input.
Inputs are tiny X3P files written here with Python's zipfile (independent of IBEX)."""
import json, os, struct, sys, tempfile, zipfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from harness import expect, finish, run, write_x3p


def tiny_x3p(path, nx=7, ny=5, md5_ok=True):
    write_x3p(path, nx, ny, [(i % 11) * 1e-7 for i in range(nx * ny)], md5_ok=md5_ok)
with tempfile.TemporaryDirectory() as d:
    good, bad_md5, trunc = (os.path.join(d, n) for n in ("good.x3p", "badmd5.x3p", "trunc.x3p"))
    tiny_x3p(good)
    tiny_x3p(bad_md5, md5_ok=False)
    tiny_x3p(trunc, 40, 40)
    with open(trunc, "r+b") as f:
        f.truncate(200)

    r = run()
    expect(r.returncode == 2, "no arguments: exit 2")
    r = run("--help")
    expect(r.returncode == 0 and "info" in r.stdout and "convert" in r.stdout, "ibex --help lists commands")
    expect(run("frobnicate").returncode == 2, "unknown command: exit 2")
    for cmd in ("info", "convert", "render", "compare", "ingest", "synth"):
        r = run(cmd, "--help")
        expect(r.returncode == 0 and f"ibex {cmd}" in r.stdout, f"ibex {cmd} --help")
    expect(run("info").returncode == 2, "info without files: exit 2")
    expect(run("info", "--bogus", good).returncode == 2, "info with unknown option: exit 2")

    r = run("info", good)
    expect(r.returncode == 0 and "7x5" in r.stdout and "2 um" in r.stdout, "info table shows grid and spacing")
    r = run("info", good, "--json")  # option after the operand
    try:
        o = json.loads(r.stdout)[0]
        expect(o["nx"] == 7 and o["ny"] == 5 and abs(o["dx_m"] - 2e-6) < 1e-15, "info --json values")
    except (ValueError, KeyError, IndexError):
        expect(False, "info --json is valid JSON: " + r.stdout[:200])

    r = run("info", bad_md5)
    expect(r.returncode == 1 and "badmd5.x3p" in r.stderr and "MD5" in r.stderr
           and r.stderr.count("\n") == 1, "wrong MD5 refused in one line naming the file")
    expect(run("info", "--no-verify", bad_md5).returncode == 0, "--no-verify reads it")

    out = os.path.join(d, "out.x3p")
    r = run("convert", trunc, out)
    expect(r.returncode == 1 and "trunc.x3p" in r.stderr, "truncated input refused naming the file")
    expect(not os.path.exists(out) and not [f for f in os.listdir(d) if ".tmp-" in f],
           "refused convert leaves no output or temporary file")
    r = run("convert", good, os.path.join(d, "no", "such", "dir", "o.x3p"))
    expect(r.returncode == 1 and r.stderr.startswith("ibex convert:"), "unwritable output: exit 1")
    expect(run("convert", good, out, "--meta", "nokey=1").returncode == 2, "unknown metadata key: exit 2")
    # Metadata goes into main.xml as text; what XML 1.0 cannot hold is refused at input, as
    # the written file could never be read back.
    for value, problem in (("x\x1by", "control character 0x1b"), ("x\x01", "control character 0x01")):
        r = run("convert", good, out, "--meta", "agency=" + value)
        expect(r.returncode == 1 and "'agency'" in r.stderr and problem in r.stderr
               and r.stderr.count("\n") == 1, f"convert --meta with {problem}: exit 1, one line: {r.stderr!r}")
        expect(not os.path.exists(out), "refused --meta writes no output")
        lib = os.path.join(d, "meta.h5")
        r = run("ingest", "--meta", "agency=" + value, lib, good)
        expect(r.returncode == 1 and "'agency'" in r.stderr and problem in r.stderr,
               f"ingest --meta with {problem}: exit 1: {r.stderr!r}")
        expect(not os.path.exists(lib), "refused ingest --meta creates no library")
    r = run("convert", good, out, "--meta", b"agency=x\xffy")
    expect(r.returncode == 1 and "'agency'" in r.stderr and "invalid UTF-8 at byte 1" in r.stderr
           and not os.path.exists(out), f"convert --meta with invalid UTF-8: exit 1: {r.stderr!r}")
    r = run("convert", good, out, "--meta", "agency=Lab\tA\u00e9")
    expect(r.returncode == 0, "tab and UTF-8 in --meta are kept: " + r.stderr)
    o = json.loads(run("info", "--json", out).stdout or "[{}]")[0]
    expect(o.get("metadata", {}).get("agency") == "Lab\tA\u00e9", "tab and UTF-8 read back")
    os.remove(out)
    expect(run("convert", good).returncode == 2, "convert needs IN and OUT")

    r = run("convert", "--meta", "agency=Lab A", "--kind", "cartridge", good, out, "--crop", "1,1,3,2")
    expect(r.returncode == 0, "convert with crop and metadata: " + r.stderr)
    o = json.loads(run("info", "--json", out).stdout or "[{}]")[0]
    expect(o.get("nx") == 3 and o.get("ny") == 2, "cropped grid is 3x2")
    expect(o.get("metadata", {}).get("agency") == "Lab A", "metadata set by convert is read back")
    expect(o.get("metadata", {}).get("specimen_kind") == "cartridge", "--kind sets specimen_kind")
    expect(run("convert", good, out, "--crop", "5,5,9,9").returncode == 1, "crop outside the grid: exit 1")
    r = run("convert", good, out, "--resample", "4")
    o = json.loads(run("info", "--json", out).stdout or "[{}]")[0]
    expect(r.returncode == 0 and o.get("nx") == 4 and abs(o.get("dx_m", 0) - 4e-6) < 1e-15,
           "resample to 4 um gives a 4-point row")

    # --float64 of a float64 input is lossless: heights float32 cannot hold come back bit for bit
    z = [1e-7 + i * 1.1e-15 + 3e-23 for i in range(7 * 5)]
    expect(any(struct.unpack("<f", struct.pack("<f", v))[0] != v for v in z), "test heights need float64")
    f64 = os.path.join(d, "f64.x3p")
    write_x3p(f64, 7, 5, z)
    def heights(path):
        with zipfile.ZipFile(path) as zf:
            b = zf.read("bindata/data.bin")
            dtype = "D" if b"<DataType>D</DataType>" in zf.read("main.xml").split(b"<CZ>")[1] else "F"
        return dtype, (list(struct.unpack("<%dd" % (len(b) // 8), b)) if dtype == "D" else None)
    r = run("convert", "--float64", f64, out)
    expect(r.returncode == 0 and heights(out) == ("D", z), "convert --float64 keeps float64 heights bit for bit")
    r = run("convert", "--float64", "--crop", "1,1,3,2", f64, out)
    want = [z[(y + 1) * 7 + x + 1] for y in range(2) for x in range(3)]
    expect(r.returncode == 0 and heights(out) == ("D", want), "convert --float64 --crop keeps them too")
    r = run("convert", f64, out)
    expect(r.returncode == 0 and heights(out)[0] == "F", "convert without --float64 stores float32")

    # ibex compare --help explains how the kind is decided and lists the bullet forms
    r = run("compare", "--help")
    expect(r.returncode == 0 and "--kind bullet --help" in r.stdout and "--lands-a" in r.stdout
           and "score:" in r.stdout, "compare --help tells the kind rule, bullet forms and score")
    # --lands-a/--lands-b mean bullets even for scans that do not look like lands
    r = run("compare", "--lands-a", good, "--lands-b", good)
    expect(r.returncode != 2 and "unknown option" not in r.stderr, "--lands-a goes to the bullet comparison")

finish("cli")
