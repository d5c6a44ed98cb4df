#!/usr/bin/env python3
"""`ibex info --json` over the whole real data directory must read every scan and report the
grid and spacing that the data set's README and MANIFEST state for each set."""
import csv, json, os, subprocess, sys, zipfile
import xml.etree.ElementTree as ET

data = os.environ.get("IBEX_DATA") or os.environ.get("IBEX_DATA_DEFAULT")
if not data or not os.path.isdir(data):
    print("SKIP: real data directory not found (set IBEX_DATA)")
    sys.exit(77)

# Per set: spacing range (um, None = not stated), x range, y range. From datasets/real/README.md
# ("Grid / increment", cadre 7.37-7.39 um, houston 1.935 um) and the MANIFEST notes
# (hamby44_small 303x85, NBIDE 2592x1944).
EXPECT = {
    "fadul":           ((6.25, 6.25),     (498, 579),   (498, 579)),
    "hamby44":         ((1.5625, 1.5625), (1416, 1515), (422, 422)),
    "hamby44-small":   ((7.8125, 7.8125), (295, 303),   (85, 85)),
    "hamby252":        ((1.5625, 1.5625), (490, 510),   (1500, 1700)),
    "x3ptools-sample": ((2.58, 2.58),     (918, 918),   (256, 256)),
    "nbide-2d":        (None,             (2592, 2592), (1944, 1944)),
    "cadre":           ((7.37, 7.39),     (400, 450),   (400, 450)),
    "cadre-raw":       ((7.37, 7.39),     (700, 800),   (600, 800)),
    "houston":         ((1.935, 1.935),   (900, 1000),  (300, 360)),
}

def stated_increment(path):
    """The CX increment as the file writes it, read here with the standard library."""
    with zipfile.ZipFile(path) as z:
        name = min((n for n in z.namelist() if n.endswith("main.xml") and "__MACOSX" not in n), key=len)
        root = ET.fromstring(z.read(name))
    cx = next(e for e in root.iter() if e.tag.split("}")[-1] == "CX")
    return float(next(e.text for e in cx.iter() if e.tag.split("}")[-1] == "Increment"))

rows = [r for r in csv.DictReader(open(os.path.join(data, "MANIFEST.tsv")), delimiter="\t")
        if r["relative_path"].endswith((".x3p", ".png"))]
res = subprocess.run([os.environ["IBEX"], "info", "--json", data], capture_output=True, text=True)
failures = []
if res.returncode != 0:
    failures.append(f"ibex info exited {res.returncode}: {res.stderr.strip()}")
info = {os.path.relpath(o["file"], data): o for o in json.loads(res.stdout or "[]")}
for r in rows:
    rel, kind = r["relative_path"], r["set"]
    o = info.get(rel)
    if o is None:
        failures.append(f"{rel}: not reported")
        continue
    spacing, xr, yr = EXPECT[kind]
    if spacing is not None:
        for axis in ("dx_m", "dy_m"):
            if not (spacing[0] - 1e-9 <= o[axis] * 1e6 <= spacing[1] + 1e-9):
                failures.append(f"{rel}: {axis} = {o[axis]} m, expected {spacing} um")
    if not (xr[0] <= o["nx"] <= xr[1] and yr[0] <= o["ny"] <= yr[1]):
        failures.append(f"{rel}: grid {o['nx']}x{o['ny']} outside {xr}x{yr}")
    if kind == "fadul" and abs(o["nx"] - o["ny"]) > 1:
        failures.append(f"{rel}: fadul scans are square, got {o['nx']}x{o['ny']}")
    if not (0 < o["valid_fraction"] <= 1):
        failures.append(f"{rel}: valid fraction {o['valid_fraction']}")
    # A file that writes a lateral increment of a millimetre or more cannot be in metres (the
    # README: some Cadre exports store micrometres); IBEX must say so and scale by 1e-6.
    if rel.endswith(".x3p"):
        inc = stated_increment(os.path.join(data, rel))
        if inc >= 1e-3:
            if not o["units_note"] or "micrometres" not in o["units_note"]:
                failures.append(f"{rel}: increment {inc} (micrometres) but units note {o['units_note']!r}")
            if abs(o["dx_m"] - inc * 1e-6) > 1e-15:
                failures.append(f"{rel}: dx_m {o['dx_m']} for a stated increment of {inc} um")
        elif o["units_note"] is not None:
            failures.append(f"{rel}: unexpected unit normalisation: {o['units_note']}")
for f in failures:
    print("FAIL:", f)
print(f"{len(rows)} scans in MANIFEST, {len(info)} reported, {len(failures)} problems")
sys.exit(1 if failures else 0)
