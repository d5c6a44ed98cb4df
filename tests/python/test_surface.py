"""Surfaces from numpy, X3P and PNG files, metadata, errors (suite unit)."""
import os
import tempfile

import numpy as np

from common import check, finish, ibex, raises, write_x3p

rng = np.random.default_rng(7)
tmp = tempfile.mkdtemp(prefix="ibex-py-")

# numpy float64 in: the library holds float32, so the surface is the float32 rounding.
z = rng.normal(0, 1e-6, (23, 31))
z[3, 4] = np.nan
s = ibex.Surface(z, 1.5e-6, 2.5e-6, x0=1e-4, y0=-2e-4, meta={"calibre": "9 mm", "creator": "t"})
check("shape", s.shape == (23, 31) and (s.nx, s.ny) == (31, 23))
check("spacing and origin", (s.dx, s.dy, s.x0, s.y0) == (1.5e-6, 2.5e-6, 1e-4, -2e-4))
h = s.heights
check("float32 rounding of the input", h.dtype == np.float32 and
      np.array_equal(h, z.astype(np.float32), equal_nan=True))
check("NaN is invalid", not s.valid[3, 4] and s.valid.sum() == z.size - 1)
check("masked array", s.masked().mask.sum() == 1)
m = np.ma.masked_array(z, mask=np.zeros_like(z, bool))
m.mask[0, 0] = True
check("a masked array's mask is invalid", not ibex.Surface(m, 1e-6).valid[0, 0])
check("meta mapping", dict(s.meta) == {"creator": "t", "calibre": "9 mm"}, dict(s.meta))
s.meta["firearm_make"] = "Ruger"
del s.meta["creator"]
check("meta set and delete", dict(s.meta) == {"calibre": "9 mm", "firearm_make": "Ruger"})
raises(lambda: s.meta.__setitem__("colour", "x"), "IBEX_ERR_ARG")
e = raises(lambda: s.meta.__setitem__("agency", "x\x1by"), "IBEX_ERR_ARG")
check("a refused value names the key and the problem",
      e is not None and "'agency'" in e.message and "control character 0x1b" in e.message,
      e and e.message)
check("a refused value leaves the field as it was", "agency" not in s.meta)
st = s.stats()
check("stats", st["n_valid"] == z.size - 1 and
      abs(st["zmean"] - np.nanmean(z.astype(np.float32))) < 1e-12, st)

# X3P round trip: float32 (F) and float64 (D) files both give back the float32 heights
# bit for bit, the mask, the spacing, the origin and the metadata.
for f64 in (False, True):
    p = os.path.join(tmp, f"rt{int(f64)}.x3p")
    s.write(p, float64=f64, sync=False)
    r = ibex.read(p)
    tag = "float64" if f64 else "float32"
    check(f"X3P {tag}: heights exact", np.array_equal(r.heights.view(np.uint32)[s.valid],
                                                      h.view(np.uint32)[s.valid]))
    check(f"X3P {tag}: mask", np.array_equal(r.valid, s.valid))
    check(f"X3P {tag}: spacing and origin",
          (r.dx, r.dy, r.x0, r.y0) == (s.dx, s.dy, s.x0, s.y0), (r.dx, r.dy, r.x0, r.y0))
    check(f"X3P {tag}: metadata", dict(r.meta) == dict(s.meta), dict(r.meta))
    b = open(p, "rb").read()
    check(f"X3P {tag}: from bytes", np.array_equal(ibex.read_x3p_bytes(b, "mem").heights, r.heights,
                                                   equal_nan=True))

# A float64 file from another writer: the reader rounds each double to float32 once.
p = os.path.join(tmp, "other.x3p")
zz = rng.normal(0, 1e-6, 12 * 9)
write_x3p(p, 12, 9, list(zz), dx=3e-6)
r = ibex.read(p)
check("foreign float64 X3P: float32 of each value",
      np.array_equal(r.heights, zz.reshape(9, 12).astype(np.float32)) and r.dx == 3e-6)

# PNG: 16-bit, so heights come back to within one step of the range.
p = os.path.join(tmp, "rt.png")
s.write(p)
r = ibex.read(p)
step = (np.nanmax(h) - np.nanmin(h)) / 65535
check("PNG: mask", np.array_equal(r.valid, s.valid))
check("PNG: heights within 16-bit precision",
      np.nanmax(np.abs(r.heights - h)) <= step, np.nanmax(np.abs(r.heights - h)) / step)

# Derived surfaces.
c = s.crop(2, 3, 10, 5)
check("crop", c.shape == (5, 10) and np.array_equal(c.heights, h[3:8, 2:12], equal_nan=True))
check("copy", np.array_equal(s.copy().heights, h, equal_nan=True))
check("resample", s.resample(3e-6, 5e-6).dx == 3e-6)
raises(lambda: s.crop(30, 0, 5, 5), "IBEX_ERR_ARG")

# Rendering.
img = s.render(style="shaded", invalid_rgb=(255, 0, 255))
check("render: RGB array", img.shape == (23, 31, 3) and img.dtype == np.uint8)
check("render: invalid colour", tuple(img[3, 4]) == (255, 0, 255), img[3, 4])
check("render: max_side", s.render(max_side=10).shape[1] <= 10)
p = os.path.join(tmp, "render.png")
ibex.write_image(img, p)
check("write_image: a PNG", open(p, "rb").read(8) == b"\x89PNG\r\n\x1a\n")

# Errors: a truncated X3P, a missing file, a wrong argument.
p = os.path.join(tmp, "truncated.x3p")
s.write(p, sync=False)
with open(p, "r+b") as f:
    f.truncate(300)
e = raises(lambda: ibex.read(p), "IBEX_ERR_FORMAT")
check("message names the file", e is not None and p in e.message and "zip" in e.message,
      e and e.message)
check("ibex.Error is an Exception", isinstance(e, Exception) and "IBEX_ERR_FORMAT" in str(e))
e = raises(lambda: ibex.read(os.path.join(tmp, "nope.x3p")), "IBEX_ERR_IO")
check("missing file named", e is not None and "nope.x3p" in e.message)
try:
    ibex.preprocess(s, no_such_option=1)
    check("unknown option refused", False)
except TypeError:
    pass

# Preprocessing: options as keywords, the info as a dict.
big = ibex.synth.cartridge(3, 4, size=256)[0]
prep, info = big.preprocess(mode="level")
check("preprocess info", isinstance(info, dict) and "steps" in info and
      info["spacing_out"] > 0 and len(info["plane"]) == 3, info)
check("preprocess output", isinstance(prep, ibex.Surface) and prep.nx > 0)

for f in os.listdir(tmp):
    os.unlink(os.path.join(tmp, f))
os.rmdir(tmp)
finish("python surface")
