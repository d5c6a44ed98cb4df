#!/usr/bin/env python3
"""Ingest the real scans through their manifest, then read the library with h5py alone
(no IBEX) and check it against the sources read independently here: SHA-256 (hashlib),
heights (X3P zip: main.xml + bindata/data.bin, decoded with numpy), manifest columns.
Exit 77 when the data or h5py is missing."""
import hashlib, os, subprocess, sys, tempfile, zipfile
import xml.etree.ElementTree as ET

data = os.environ.get("IBEX_DATA") or os.environ.get("IBEX_DATA_DEFAULT", "")
manifest = os.path.join(data, "MANIFEST.tsv")
if not os.path.isfile(manifest):
    print(f"SKIP: no real data at {data!r} (set IBEX_DATA)")
    sys.exit(77)
try:
    import h5py
    import numpy as np
except ImportError:
    print("SKIP: h5py/numpy not installed (Debian: python3-h5py)")
    sys.exit(77)

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from harness import library_rows

ibex = os.environ["IBEX"]
rows = []
with open(manifest) as f:
    head = f.readline().rstrip("\n").split("\t")
    for line in f:
        v = dict(zip(head, line.rstrip("\n").split("\t")))
        if v["relative_path"].lower().endswith(".x3p"):
            rows.append(v)

def x3p_heights(path):
    """Heights as float32 [ny][nx] from the X3P's own bytes (x fastest), NaN = missing."""
    with zipfile.ZipFile(path) as z:
        names = z.namelist()
        xml_name = next(n for n in names if n.endswith("main.xml") and "__MACOSX" not in n)
        root = ET.fromstring(z.read(xml_name))
        def find(tag):
            return next(e for e in root.iter() if e.tag.split("}")[-1] == tag)
        r3 = find("Record3")
        md = next(e for e in r3.iter() if e.tag.split("}")[-1] == "MatrixDimension")
        size = {e.tag.split("}")[-1]: int(e.text) for e in md}
        cz = next(e for e in root.iter() if e.tag.split("}")[-1] == "CZ")
        dtype = next(e.text for e in cz.iter() if e.tag.split("}")[-1] == "DataType").strip()
        bin_name = next(n for n in names if n.endswith("bindata/data.bin") and "__MACOSX" not in n)
        raw = z.read(bin_name)
        cx = next(e for e in root.iter() if e.tag.split("}")[-1] == "CX")
        inc = float(next(e.text for e in cx.iter() if e.tag.split("}")[-1] == "Increment"))
    dt = {"D": "<f8", "F": "<f4", "L": "<i4", "I": "<i2"}[dtype]
    z = np.frombuffer(raw, dtype=dt)[: size["SizeX"] * size["SizeY"]].astype(np.float64)
    # A lateral increment of a millimetre or more is no toolmark scan in metres: the file
    # stores micrometres (README), and the library holds metres.
    if inc >= 1e-3:
        z = z * 1e-6
    with np.errstate(invalid="ignore", over="ignore"):
        return z.astype(np.float32).reshape(size["SizeY"], size["SizeX"])

failures = 0
def fail(msg):
    global failures
    failures += 1
    print("FAIL:", msg)

with tempfile.TemporaryDirectory() as tmp:
    lib = os.path.join(tmp, "real.h5")
    out = subprocess.run([ibex, "ingest", "--json", lib, "--manifest", manifest],
                         capture_output=True, text=True)
    print(out.stderr, end="")
    import json
    events = [json.loads(l) for l in out.stdout.splitlines() if l.strip()]
    stored = {e["file"]: e for e in events if e["event"] == "stored"}
    summary = events[-1]
    print("summary:", summary)
    if summary.get("event") != "summary" or not summary.get("complete"):
        fail("no complete summary")
    with h5py.File(lib, "r") as f:
        if f.attrs["ibex_format"] != b"ibex-reference-library" or f.attrs["schema_version"] != 3:
            fail("root attributes")
        by_sha = {r["sha256"]: r for r in library_rows(f)}
        checked = 0
        for v in rows:
            path = os.path.join(data, v["relative_path"])
            sha = hashlib.sha256(open(path, "rb").read()).hexdigest()
            if sha != v["sha256"]:
                fail(f"{path}: file hash differs from the manifest")
            r = by_sha.get(sha)
            if r is None:
                fail(f"{path}: not in the library")
                continue
            if path not in stored:
                fail(f"{path}: in the library but not reported stored")
            for col in ("set", "firearm_id", "same_source_key", "kind"):
                if r[col] != v[col]:
                    fail(f"{path}: {col} {r[col]!r} != manifest {v[col]!r}")
            if r["meta_specimen_id"] != v["specimen_id"] or r["id"] != v["set"] + ":" + v["specimen_id"]:
                fail(f"{path}: id {r['id']!r}")
            g = f[r["surface"]]
            h, m = g["height"][:], g["mask"][:]
            ref = x3p_heights(path)
            if h.shape != ref.shape:
                fail(f"{path}: shape {h.shape} != {ref.shape}")
                continue
            valid = np.isfinite(ref)
            if not np.array_equal(m.astype(bool), valid):
                fail(f"{path}: mask differs from the source's finite points")
            elif not np.array_equal(h[valid], ref[valid]) or not np.isnan(h[~valid]).all():
                # the reader may normalise micrometre files; report the scale seen
                fail(f"{path}: heights differ (max abs diff {np.nanmax(np.abs(h - ref))})")
            if int(r["n_valid"]) != int(valid.sum()):
                fail(f"{path}: n_valid")
            checked += 1
        print(f"checked {checked} of {len(rows)} X3P scans against their sources with h5py")
    # A second ingest of the same manifest stores nothing new.
    out2 = subprocess.run([ibex, "ingest", "--json", lib, "--manifest", manifest], capture_output=True, text=True)
    s2 = json.loads(out2.stdout.splitlines()[-1])
    if s2["stored"] != 0 or s2["skipped"] != len(stored):
        fail(f"re-ingest: {s2}")
print(f"{1 if failures == 0 else 0} passed, {1 if failures else 0} failed")
sys.exit(1 if failures else 0)
