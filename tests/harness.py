"""What the Python test scripts share: the ibex under test ($IBEX), running it, counting
failed checks, and small X3P files written with Python's zipfile (independent of IBEX's
own writer). A script imports it after putting tests/ on sys.path:

    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from harness import IBEX, run, expect, finish
"""
import hashlib, os, struct, subprocess, sys, zipfile

IBEX = os.environ["IBEX"]
_failures = 0


def run(*args, timeout=600, **kw):
    """ibex ARGS...; stdout and stderr captured as text (subprocess.run keywords pass through)."""
    return subprocess.run([IBEX, *args], capture_output=True, text=True, timeout=timeout, **kw)


def expect(cond, what, r=None):
    """Count and print a failed check; r, a finished run, adds its exit status and output."""
    global _failures
    if not cond:
        _failures += 1
        print("FAIL:", what)
        if r is not None:
            print("  exit", r.returncode, "stdout:", r.stdout[-500:], "stderr:", r.stderr[-500:])
    return bool(cond)


def check(name, cond, detail=""):
    """expect() with the check's name first and details after."""
    return expect(cond, f"{name} {str(detail)[:2000]}".rstrip())


def failures():
    return _failures


def finish(label):
    """Print the tally and exit: 0 when every check held, 1 otherwise."""
    print(f"{label}:", "ok" if not _failures else f"{_failures} failure(s)")
    sys.exit(1 if _failures else 0)


def library_rows(f):
    """The rows of a reference library's /specimens (f: an open h5py File) as dicts, string
    columns as str. Schema 3 keeps the strings in /strings and a string cell is its
    (offset, length) there; older schemas hold variable-length strings
    (docs/reference/library-format.md)."""
    t = f["specimens"][:]
    pool = f["strings"][:].tobytes() if "strings" in f else None
    out = []
    for r in t:
        row = {}
        for name in t.dtype.names:
            v = r[name]
            if pool is not None and t.dtype[name].names == ("offset", "length"):
                o, n = int(v["offset"]), int(v["length"])
                v = pool[o:o + n].decode()
            elif isinstance(v, bytes):
                v = v.decode()
            row[name] = v
        out.append(row)
    return out


def write_x3p(path, nx, ny, z, dx=2e-6, md5_ok=True):
    """An X3P file of nx x ny float64 heights z (metres, row-major), spacing dx in x and y.
    md5_ok=False writes a wrong point-data checksum. Returns the point data bytes."""
    data = struct.pack("<%dd" % (nx * ny), *z)
    md5 = hashlib.md5(data).hexdigest() if md5_ok else "0" * 32
    xml = f"""<?xml version="1.0" encoding="UTF-8"?>
<p:ISO5436_2 xmlns:p="http://www.opengps.eu/2008/ISO5436_2"><Record1><Revision>ISO5436 - 2000</Revision>
<FeatureType>SUR</FeatureType><Axes><CX><AxisType>I</AxisType><DataType>D</DataType><Increment>{dx}</Increment>
<Offset>0</Offset></CX><CY><AxisType>I</AxisType><DataType>D</DataType><Increment>{dx}</Increment><Offset>0</Offset>
</CY><CZ><AxisType>A</AxisType><DataType>D</DataType><Increment>1</Increment><Offset>0</Offset></CZ></Axes></Record1>
<Record3><MatrixDimension><SizeX>{nx}</SizeX><SizeY>{ny}</SizeY><SizeZ>1</SizeZ></MatrixDimension><DataLink>
<PointDataLink>bindata/data.bin</PointDataLink><MD5ChecksumPointData>{md5}</MD5ChecksumPointData></DataLink>
</Record3><Record4><ChecksumFile>md5checksum.hex</ChecksumFile></Record4></p:ISO5436_2>
""".encode()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("main.xml", xml)
        zf.writestr("bindata/data.bin", data)
        zf.writestr("md5checksum.hex", hashlib.md5(xml).hexdigest() + " *main.xml\n")
    return data
