#!/usr/bin/env python3
"""Exchange packages made from real scans (every X3P file in the real data directory): each is
signed, verified, still read by `ibex info` with the original's grid, spacing and valid
fraction, and its point data is byte-identical to the original's (read with Python's
zipfile). One flipped byte inside bindata/data.bin of each package is refused."""
import json, os, subprocess, sys, tempfile, zipfile

data = os.environ.get("IBEX_DATA") or os.environ.get("IBEX_DATA_DEFAULT")
if not data or not os.path.isdir(data):
    print("SKIP: real data directory not found (set IBEX_DATA)")
    sys.exit(77)
IBEX = os.environ["IBEX"]
scans = sorted(os.path.join(dp, f) for dp, _, fs in os.walk(data) for f in fs
               if f.endswith(".x3p") and "__MACOSX" not in dp)
failures = []

def run(*a):
    return subprocess.run([IBEX, *a], capture_output=True, text=True, timeout=300)

def info(path):
    r = run("info", "--json", path)
    return json.loads(r.stdout)[0] if r.returncode == 0 else None

def points(path):
    with zipfile.ZipFile(path) as z:
        name = next(n for n in z.namelist() if n.endswith("bindata/data.bin"))
        return name, z.getinfo(name), z.read(name)

with tempfile.TemporaryDirectory() as d:
    key = os.path.join(d, "lab.key")
    run("node", "keygen", key)
    peers = key + ".pub"
    for i, scan in enumerate(scans):
        pkg = os.path.join(d, "pkg.x3p")
        r = run("node", "sign", scan, pkg, "--key", key, "--param", "source=" + os.path.basename(scan))
        if r.returncode:
            failures.append(f"{scan}: sign failed: {r.stderr.strip()}")
            continue
        r = run("node", "verify", pkg, "--trust", peers)
        if r.returncode:
            failures.append(f"{scan}: verify failed: {r.stderr.strip()}")
        a, b = info(scan), info(pkg)
        if not a or not b or any(a[k] != b[k] for k in ("nx", "ny", "dx_m", "dy_m", "valid_fraction")):
            failures.append(f"{scan}: package reads differently from the original")
        name, zi, pts = points(pkg)
        if pts != points(scan)[2]:
            failures.append(f"{scan}: point data changed by signing")
        # flip one byte in the middle of data.bin's stored (compressed) bytes
        raw = bytearray(open(pkg, "rb").read())
        h = zi.header_offset  # local header: name and extra lengths at +26, +28
        start = h + 30 + int.from_bytes(raw[h + 26:h + 28], "little") + int.from_bytes(raw[h + 28:h + 30], "little")
        raw[start + zi.compress_size // 2] ^= 0x04
        bad = os.path.join(d, "bad.x3p")
        open(bad, "wb").write(raw)
        r = run("node", "verify", bad, "--trust", peers)
        if r.returncode != 1 or "altered" not in r.stderr:
            failures.append(f"{scan}: flipped byte not refused as altered: {r.stderr.strip()}")

for f in failures:
    print("FAIL:", f)
print(f"{len(scans)} real scans packaged, {len(failures)} problems")
sys.exit(1 if failures or not scans else 0)
