"""Cartridge cases (ibex/compare.h, prealign.h, calibration.h, pair.h): preprocessing and
Congruent Matching Cells; a pair is compared by the library's ibex_compare_cartridges, the
call `ibex compare A B` makes."""
import ctypes

import numpy as np

from . import _lib, _pair
from ._lib import lib
from .errors import check, diag, fail
from .surface import Surface, as_surface

PREPROCESS_MODES = ("auto", "full", "level")


def preprocess_opts(**kw):
    """ibex_preprocess_opts with the defaults, then the keywords (mode "auto"|"full"|"level",
    spacing, max_side, lambda_short, lambda_long, outlier_k, crop_exterior,
    remove_firing_pin)."""
    o = _lib.PreprocessOpts()
    lib.ibex_preprocess_opts_init(ctypes.byref(o))
    if isinstance(kw.get("mode"), str):
        kw["mode"] = PREPROCESS_MODES.index(kw["mode"])
    return _lib.set_fields(o, kw, "preprocess")


def cmc_opts(**kw):
    """ibex_cmc_opts with the defaults, then the keywords (field names of ibex_cmc_opts;
    cells=N sets an N x N grid)."""
    o = _lib.CmcOpts()
    lib.ibex_cmc_opts_init(ctypes.byref(o))
    if "cells" in kw:
        o.cells_x = o.cells_y = kw.pop("cells")
    return _lib.set_fields(o, kw, "cmc")


def _info_dict(info):
    d = _lib.to_dict(info)
    for k in ("already_processed", "cropped", "band_limited"):
        d[k] = bool(d[k])
    return d


def _preprocess(s, o, file=None):
    out = ctypes.POINTER(_lib.Surface)()
    info = _lib.out_struct(_lib.PreprocessInfo)
    d = diag()
    st = lib.ibex_preprocess(s, ctypes.byref(o), ctypes.byref(out), ctypes.byref(info),
                             ctypes.byref(d))
    if st and file is not None:
        d.file = str(file).encode()[:511]
    check(st, d)
    _lib.check_guard(info, "ibex_preprocess")
    return Surface._wrap(out), _info_dict(info)


def preprocess(surface, **opts):
    """ibex_preprocess: (prepared Surface, info dict). Options as in preprocess_opts."""
    return _preprocess(as_surface(surface), preprocess_opts(**opts))


def pair_spacing(a, b, **opts):
    """The spacing two scans are compared at (ibex_preprocess_pair_spacing)."""
    o = preprocess_opts(**opts)
    return lib.ibex_preprocess_pair_spacing(as_surface(a), as_surface(b), ctypes.byref(o))


def align(ref, tgt, theta, dx, dy):
    """tgt resampled into ref's grid at a CMC registration (degrees, points)."""
    out = ctypes.POINTER(_lib.Surface)()
    d = diag()
    check(lib.ibex_cmc_align(ref, tgt, theta, dx, dy, ctypes.byref(out), ctypes.byref(d)), d)
    return Surface._wrap(out)


CELL_DTYPE = np.dtype([("direction", "u1"), ("row", "u4"), ("col", "u4"), ("x", "u8"),
                       ("y", "u8"), ("w", "u8"), ("h", "u8"), ("valid_frac", "f8"),
                       ("used", "?"), ("ccf", "f8"), ("theta", "f8"), ("dx", "f8"),
                       ("dy", "f8"), ("cmc", "?"), ("cmc_high", "?"), ("high_theta", "f8"),
                       ("high_dx", "f8"), ("high_dy", "f8"), ("high_ccf", "f8")])


class CartridgeResult:
    """One CMC comparison. cmc, cmc_high: the smaller direction's counts; directions: two
    dicts (A->B, B->A); verdict: "identification", "inconclusive", "elimination" or
    "unsuitable"; cells: numpy structured array (CELL_DTYPE), one row per cell, direction 0
    first; a, b: what preprocessing did to each input; lr: the shipped calibration's
    log10 likelihood ratio of cmc (None when the options are not the default method);
    prepared: the two compared surfaces (aligned() puts B onto A)."""

    def __init__(self, p):
        r = p.cmc.contents
        self.cmc = r.cmc
        self.cmc_high = r.cmc_high
        self.score = r.score
        self.verdict = lib.ibex_verdict_name(r.verdict).decode()
        self.directions = []
        for k in range(2):
            x = _lib.to_dict(r.dir[k])
            x["high_pass"] = bool(x["high_pass"])
            x["direction"] = "B->A" if k else "A->B"
            self.directions.append(x)
        self.theta, self.dx, self.dy = r.theta, r.dx, r.dy
        self.full_ccf = r.full_ccf
        self.spacing = r.spacing
        raw = _lib.np_array(r.cells, _lib.CmcCell, r.n_cells)
        self.cells = np.zeros(r.n_cells, CELL_DTYPE)
        for name in CELL_DTYPE.names:
            self.cells[name] = raw[name]
        self.timings = {k: getattr(r, k) for k in ("t_total", "t_rotate", "t_fft", "t_ncc",
                                                   "t_decision")}
        self.simd = p.simd.decode()
        self.prealign = _lib.to_dict(p.prealign.contents) if p.prealign else None
        if self.prealign:
            self.prealign["found"] = bool(self.prealign["found"])
        self.a, self.b = (_info_dict(p.info[k].contents) for k in range(2))
        self.lr = None
        if p.calibration:
            c = p.calibration.contents
            self.lr = {"log10_lr": p.log10_lr, "verbal": p.lr_verbal.decode(),
                       "calibration": c.id.decode(), "log10_bounds": [c.log10_lo, c.log10_hi],
                       "score": c.score.decode()}

    def aligned(self):
        """(prepared A, prepared B turned and shifted onto A's grid by the registration),
        to be rendered side by side (ibex_cmc_align)."""
        a, b = self.prepared
        return a, align(a, b, self.theta, self.dx, self.dy)

    def cells_list(self):
        """The per-cell table as a list of dicts."""
        return [{k: v.item() for k, v in zip(CELL_DTYPE.names, row)} for row in self.cells]

    def __repr__(self):
        return (f"<ibex.CartridgeResult cmc={self.cmc} ({self.directions[0]['cmc']}/"
                f"{self.directions[1]['cmc']}) cmc_high={self.cmc_high} "
                f"verdict={self.verdict} score={self.score:.3f}>")


def _check_cartridge(s, path):
    k = s.meta.get("specimen_kind")
    if k == "bullet":
        fail("IBEX_ERR_ARG", f"{path}: is a bullet scan (specimen kind \"bullet\"); cannot "
                             "compare it with a cartridge case")
    if s.nx >= 3 * s.ny or s.ny >= 3 * s.nx:
        fail("IBEX_ERR_ARG", f"{path}: {s.nx} x {s.ny} points looks like a bullet land scan, "
                             "not a breech face; use compare_bullets")


def compare_cartridges(a, b, prealign=False, verify=True, preprocess=None, **cmc):
    """Compare two breech faces as `ibex compare A B` does: both preprocessed at their pair
    spacing, CMC in both directions, the verdict from the original rule. a, b: paths or
    Surfaces (as read, not yet preprocessed). cmc keywords: cells=N, threads=N or any
    ibex_cmc_opts field; preprocess: dict of preprocess options over the defaults;
    prealign=True: full-circle pre-registration first (ibex compare --prealign)."""
    na = a if not isinstance(a, Surface) else "A"
    nb = b if not isinstance(b, Surface) else "B"
    ra, rb = as_surface(a, verify), as_surface(b, verify)
    _check_cartridge(ra, na)
    _check_cartridge(rb, nb)
    if ra.zkind != rb.zkind:
        fail("IBEX_ERR_ARG", f"{na} and {nb}: cannot compare a 3D topography with a 2D image")
    po = preprocess_opts(**(preprocess or {}))
    co = cmc_opts(**cmc)
    o = _pair.PairOpts()
    lib.ibex_pair_opts_init(ctypes.byref(o))
    o.preprocess, o.cmc = ctypes.pointer(po), ctypes.pointer(co)
    o.prealign = 1 if prealign else 0
    p = ctypes.POINTER(_pair.PairResult)()
    d = diag()
    st = lib.ibex_compare_cartridges(ra, rb, ctypes.byref(o), ctypes.byref(p), ctypes.byref(d))
    if st:
        # the library names the input at fault "A" or "B"
        names = {b"A": str(na), b"B": str(nb)}
        if d.file in names:
            d.file = names[d.file].encode()[:511]
        check(st, d)
    try:
        res = CartridgeResult(p.contents)
        # the prepared surfaces pass to Python: the result no longer frees them
        res.prepared = tuple(Surface._wrap(ctypes.pointer(p.contents.prepared[k].contents))
                             for k in range(2))
        p.contents.prepared[0] = p.contents.prepared[1] = None
        return res
    finally:
        lib.ibex_pair_result_free(p)


def _is_bullet(operands):
    """As `ibex compare` decides: a directory or a list is a bullet; else the first readable
    scan's specimen kind, or an elongated grid (a land is >= 2x longer than wide)."""
    import os
    for x in operands:
        if isinstance(x, (list, tuple)) or (isinstance(x, (str, os.PathLike)) and
                                            os.path.isdir(x)):
            return True
    for x in operands:
        try:
            s = as_surface(x, verify=False)
        except Exception:
            continue
        k = s.meta.get("specimen_kind")
        return k == "bullet" if k else (s.nx >= 2 * s.ny or s.ny >= 2 * s.nx)
    return False


def compare(a, b, kind=None, **kw):
    """Compare two specimens as `ibex compare A B` does: cartridge cases (compare_cartridges,
    keywords passed on) or bullets and lands (compare_bullets), decided by kind
    ("cartridge" | "bullet") or as the command decides."""
    from .bullet import LandSignature, compare_bullets
    bullet = kind == "bullet" if kind else (
        isinstance(a, LandSignature) or isinstance(b, LandSignature) or _is_bullet((a, b)))
    if bullet and kw:
        raise TypeError(f"bullet comparison takes no options ({', '.join(kw)})")
    return compare_bullets(a, b) if bullet else compare_cartridges(a, b, **kw)
