#!/usr/bin/env python3
"""Independent check of X3P files written by `ibex convert`, using only Python's standard
library (zipfile, hashlib, xml.etree, struct): zip integrity, record structure in schema
order, MD5 of main.xml and data.bin, NBTRD-style increments, and heights equal to the source
file's (as float32)."""
import array, hashlib, math, os, re, subprocess, sys, tempfile, xml.etree.ElementTree as ET, zipfile

NS = "{http://www.opengps.eu/2008/ISO5436_2}"
ORDER = {
    "root": ["Record1", "Record2", "Record3", "Record4", "VendorSpecificID"],
    "Record1": ["Revision", "FeatureType", "Axes"],
    "Axis": ["AxisType", "DataType", "Increment", "Offset"],
    "Record2": ["Date", "Creator", "Instrument", "CalibrationDate", "ProbingSystem", "Comment"],
    "Record3": ["MatrixDimension", "DataLink"],
}

def in_order(elem, order, what, errs):
    seen = [c.tag for c in elem if c.tag in order]
    if seen != sorted(seen, key=order.index):
        errs.append(f"{what}: children out of schema order: {seen}")

def main_xml(z):
    names = [n for n in z.namelist() if n.endswith("main.xml") and not n.startswith("__MACOSX")]
    return min(names, key=len)

def heights(z, prefix):
    """Heights of an X3P as float32 values (NaN for invalid), decoded independently."""
    root = ET.fromstring(z.read(prefix + "main.xml"))
    r1, r3 = root.find("Record1"), root.find("Record3")
    dt = r1.find("Axes/CZ/DataType").text.strip()
    inc = float(r1.find("Axes/CZ/Increment").text) if r1.find("Axes/CZ/Increment") is not None else 1.0
    # A lateral increment of a millimetre or more is no toolmark scan in metres: the file
    # stores micrometres (README), and IBEX writes metres.
    to_m = 1e-6 if float(r1.find("Axes/CX/Increment").text) >= 1e-3 else 1.0
    raw = z.read(prefix + r3.find("DataLink/PointDataLink").text.strip())
    a = array.array({"D": "d", "F": "f"}[dt])
    a.frombytes(raw)
    if sys.byteorder != "little":
        a.byteswap()
    if inc == 1.0 and to_m == 1.0:
        return array.array("f", a)
    return array.array("f", (v * inc * to_m for v in a))

def check(src, out):
    errs = []
    z = zipfile.ZipFile(out)
    if z.testzip() is not None:
        errs.append("zip member CRC failure")
    xml = z.read("main.xml")
    root = ET.fromstring(xml)
    if root.tag != NS + "ISO5436_2":
        errs.append(f"root is {root.tag}")
    in_order(root, ORDER["root"], "root", errs)
    r1, r3, r4 = root.find("Record1"), root.find("Record3"), root.find("Record4")
    in_order(r1, ORDER["Record1"], "Record1", errs)
    for ax in ("CX", "CY", "CZ"):
        in_order(r1.find("Axes/" + ax), ORDER["Axis"], ax, errs)
    if root.find("Record2") is not None:
        in_order(root.find("Record2"), ORDER["Record2"], "Record2", errs)
    in_order(r3, ORDER["Record3"], "Record3", errs)
    if r1.find("FeatureType").text != "SUR":
        errs.append("FeatureType is not SUR")
    for ax in ("CX", "CY"):
        inc = r1.find(f"Axes/{ax}/Increment").text
        if not re.fullmatch(r"-?\d(\.\d+)?e[-+]\d{3}", inc):
            errs.append(f"{ax} increment written as {inc!r}, not like 1.5625e-006")
    md5file = z.read(r4.find("ChecksumFile").text).decode().split()[0]
    if md5file != hashlib.md5(xml).hexdigest():
        errs.append("md5checksum.hex does not match main.xml")
    link = r3.find("DataLink")
    data = z.read(link.find("PointDataLink").text)
    if link.find("MD5ChecksumPointData").text.lower() != hashlib.md5(data).hexdigest():
        errs.append("MD5ChecksumPointData does not match data.bin")
    nx, ny = int(r3.find("MatrixDimension/SizeX").text), int(r3.find("MatrixDimension/SizeY").text)
    if len(data) != nx * ny * 4:
        errs.append(f"data.bin has {len(data)} bytes for {nx}x{ny} float32")
    zs = zipfile.ZipFile(src)
    a, b = heights(zs, main_xml(zs)[:-8]), heights(z, "")
    if len(a) != len(b):
        errs.append("point count differs from the source")
    else:
        diff = sum(1 for x, y in zip(a, b) if not (x == y or (math.isnan(x) and math.isnan(y))))
        if diff:
            errs.append(f"{diff} heights differ from the source")
    return errs

data = os.environ.get("IBEX_DATA") or os.environ.get("IBEX_DATA_DEFAULT")
if not data or not os.path.isdir(data):
    print("SKIP: real data directory not found (set IBEX_DATA)")
    sys.exit(77)
scans = sorted(os.path.join(d, f) for d, _, fs in os.walk(data) for f in fs if f.endswith(".x3p"))
bad = 0
with tempfile.TemporaryDirectory() as tmp:
    out = os.path.join(tmp, "out.x3p")
    for src in scans:
        r = subprocess.run([os.environ["IBEX"], "convert", src, out], capture_output=True, text=True)
        errs = [f"convert failed: {r.stderr.strip()}"] if r.returncode else check(src, out)
        for e in errs:
            print(f"FAIL {os.path.relpath(src, data)}: {e}")
        bad += bool(errs)
print(f"{len(scans)} scans converted and checked, {bad} with problems")
sys.exit(1 if bad or not scans else 0)
