"""Bullets (ibex/bullet.h, ibex/pair.h): land signatures, land-to-land and bullet-to-bullet
comparison; bullets are compared by the library's ibex_compare_bullets, the call
`ibex compare` makes on lands and bullets."""
import ctypes
import os
import re

import numpy as np

from . import _lib, _pair
from ._lib import lib
from .errors import Error, check, diag
from .surface import Surface, as_surface

AXES = ("auto", "x", "y")
LAND_MATCH, LAND_ID, LAND_ELIM = 0.5, 0.9, 0.1   # IBEX_LAND_MATCH, _ID, _ELIM


def land_opts(**kw):
    """ibex_land_opts with the defaults, then the keywords (axis "auto"|"x"|"y", spacing,
    band, sigma_short, sigma_long, min_width, min_stability)."""
    o = _lib.LandOpts()
    lib.ibex_land_opts_init(ctypes.byref(o))
    if isinstance(kw.get("axis"), str):
        kw["axis"] = AXES.index(kw["axis"])
    return _lib.set_fields(o, kw, "land")


class LandSignature:
    """A land's striation signature. signature: numpy float32 (metres, NaN where invalid);
    spacing, axis ("x": land width along x), crosscut, stability, groove_left/right and
    offset (metres), striae: (positions, types +1 peak / -1 valley)."""

    def __init__(self, ptr, file=None):
        self._ptr = ptr
        self._as_parameter_ = ptr
        self.file = file

    def __del__(self, _free=lib.ibex_land_signature_free):  # bound now: module globals go at exit
        if getattr(self, "_ptr", None):
            _free(self._ptr)
            self._ptr = None

    def __getattr__(self, name):
        if name in ("n", "spacing", "n_valid", "axis_ratio", "crosscut", "stability",
                    "groove_left", "groove_right", "offset", "n_striae"):
            return getattr(self._ptr.contents, name)
        raise AttributeError(name)

    @property
    def axis(self):
        return AXES[self._ptr.contents.axis]

    @property
    def signature(self):
        c = self._ptr.contents
        return np.ctypeslib.as_array(c.sig, (c.n,)).copy() if c.n else np.zeros(0, np.float32)

    @property
    def striae(self):
        c = self._ptr.contents
        if not c.n_striae:
            return np.zeros(0, np.int32), np.zeros(0, np.int8)
        return (np.ctypeslib.as_array(c.striae_pos, (c.n_striae,)).copy(),
                np.ctypeslib.as_array(c.striae_type, (c.n_striae,)).copy())

    def info(self):
        """What `ibex compare --json` reports of a land."""
        return {"file": self.file, "usable": True,
                "striae_along": "y" if self.axis == "x" else "x",
                "crosscut_um": self.crosscut * 1e6, "crosscut_stability": self.stability,
                "groove_left_um": self.groove_left * 1e6,
                "groove_right_um": self.groove_right * 1e6,
                "signature_um": self.n * self.spacing * 1e6, "striae": self.n_striae}

    def __repr__(self):
        return f"<ibex.LandSignature {self.n} samples at {self.spacing * 1e6:g} um, {self.file}>"


def land_signature(land, **opts):
    """A land scan (path or Surface) as a LandSignature; options as in land_opts."""
    name = None if isinstance(land, Surface) else str(land)
    s = as_surface(land)
    o = land_opts(**opts) if opts else None
    p = ctypes.POINTER(_lib.LandSignature)()
    d = diag()
    st = lib.ibex_land_signature_create(s, ctypes.byref(o) if o else None, ctypes.byref(p),
                                        ctypes.byref(d))
    if st and name:
        d.file = name.encode()[:511]
    check(st, d)
    return LandSignature(p, name)


def signature_from_profile(profile, spacing, **opts):
    """ibex_land_signature_from_profile: a profile in metres (NaN = missing)."""
    x = np.ascontiguousarray(profile, dtype=np.float32)
    o = land_opts(**opts) if opts else None
    p = ctypes.POINTER(_lib.LandSignature)()
    d = diag()
    check(lib.ibex_land_signature_from_profile(
        x.ctypes.data_as(ctypes.POINTER(ctypes.c_float)), x.size, spacing,
        ctypes.byref(o) if o else None, ctypes.byref(p), ctypes.byref(d)), d)
    return LandSignature(p)


def _land_verdict(score):
    return lib.ibex_bullet_verdict_name(lib.ibex_land_verdict(score)).decode()


class LandResult(dict):
    """ibex_land_result's fields (ccf, lag, lag_m, overlap, overlap_m, distance, cms,
    matches, mismatches, matches_per_mm, mismatches_per_mm, match_share, distance_rel,
    score) and verdict, as a dict whose keys are also attributes."""

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __repr__(self):
        return f"<ibex.LandResult score={self['score']:.3f} verdict={self['verdict']}>"


def compare_lands(a, b):
    """Land to land (paths, Surfaces or LandSignatures): a LandResult, verdict from the
    land-score thresholds (identification >= 0.9, elimination <= 0.1)."""
    sa = a if isinstance(a, LandSignature) else land_signature(a)
    sb = b if isinstance(b, LandSignature) else land_signature(b)
    r = _lib.out_struct(_lib.LandResult)
    d = diag()
    check(lib.ibex_land_compare(sa, sb, ctypes.byref(r), ctypes.byref(d)), d)
    _lib.check_guard(r, "ibex_land_compare")
    x = LandResult(_lib.to_dict(r))
    x["verdict"] = _land_verdict(r.score)
    return x


def land_number(path):
    """The N of "Land_N" / "LandN" in a file name (the last "Land"), else 0."""
    base = os.path.basename(str(path))
    i = base.rfind("Land")
    if i < 0:
        return 0
    m = re.match(r"[_\- ]*(\d+)", base[i + 4:])
    return int(m.group(1)) if m else 0


def bullet_files(directory):
    """The land scans of a bullet directory (*.x3p, *.png), sorted by name."""
    names = sorted(e for e in os.listdir(directory)
                   if len(e) >= 5 and e[-4:].lower() in (".x3p", ".png"))
    return [os.path.join(directory, e) for e in names]


class _Land:
    def __init__(self, item):
        self.sig, self.problem, self.file = None, None, None
        if isinstance(item, LandSignature):
            self.sig, self.file = item, item.file
            return
        if item is None:
            self.problem = "missing"
            return
        self.file = None if isinstance(item, Surface) else str(item)
        try:
            self.sig = land_signature(item)
        except Error as e:
            self.problem = e.message

    def info(self):
        if self.sig:
            i = self.sig.info()
            i["file"] = self.file
            return i
        return {"file": self.file, "usable": False, "problem": self.problem}


def _as_lands(x):
    if isinstance(x, (str, os.PathLike)) and os.path.isdir(x):
        files = bullet_files(x)
        if not files:
            raise Error("IBEX_ERR_ARG", f"{x}: no land scans (.x3p) in the directory")
        return str(x), [_Land(f) for f in files]
    if isinstance(x, (str, os.PathLike, Surface, LandSignature)):
        return str(x) if not isinstance(x, (Surface, LandSignature)) else "land", [_Land(x)]
    return "list", [_Land(i) for i in x]


class BulletResult:
    """Every land pairing of two bullets and the best cyclic phase (SAM). matrix: land scores
    (na x nb, NaN where not compared); pairs: numpy structured array of ibex_land_result per
    (i, j) with i, j and compared; phase_sam; best_phase; score (SAM at the best phase);
    n_matching of n_compared lands; verdict and reason; lands_a, lands_b: per land its file,
    usable, and the signature's figures or the problem. mode: "bullet" or "land-to-bullet"."""

    def __repr__(self):
        return (f"<ibex.BulletResult {self.mode} score={self.score:.3f} phase={self.best_phase} "
                f"{self.n_matching}/{self.n_compared} matching, verdict={self.verdict}>")


def compare_bullets(a, b):
    """Bullet to bullet as `ibex compare` does: a, b are bullet directories or lists of land
    scans (paths, Surfaces or LandSignatures; None for a missing land). Land positions come
    from "Land_N" in the file names, else list order. One land against a bullet gives the
    best land pair's verdict (mode "land-to-bullet"); one land against one land gives
    compare_lands' LandResult."""
    la, A = _as_lands(a)
    lb, B = _as_lands(b)
    if len(A) == 1 and len(B) == 1:
        for l in (A[0], B[0]):
            if not l.sig:
                raise Error("IBEX_ERR_UNSUPPORTED", l.problem)
        return compare_lands(A[0].sig, B[0].sig)
    names = []          # the encoded names live as long as the call

    def pair_lands(lands):
        v = (_pair.PairLand * len(lands))()
        for i, l in enumerate(lands):
            v[i].sig = l.sig._ptr if l.sig else None
            v[i].number = land_number(l.file) if l.file else 0
            if l.file:
                names.append(os.path.basename(l.file).encode())
                v[i].name = names[-1]
        return v

    va, vb = pair_lands(A), pair_lands(B)
    p = ctypes.POINTER(_pair.BulletPairResult)()
    d = diag()
    check(lib.ibex_compare_bullets(va, len(A), vb, len(B), ctypes.byref(p), ctypes.byref(d)), d)
    try:
        return _bullet_result(p.contents, la, lb, A, B)
    finally:
        lib.ibex_bullet_pair_result_free(p)


def _bullet_result(p, la, lb, A, B):
    c = p.bullets.contents
    out = BulletResult()
    out.mode = _pair.MODES[p.mode]
    out.a, out.b = la, lb
    out.na, out.nb = c.na, c.nb
    pairs = _lib.np_array(c.pairs, _lib.LandResult, c.na * c.nb)
    compared = np.ctypeslib.as_array(c.compared, (c.na * c.nb,)).astype(bool)
    dt = np.dtype([("i", "u4"), ("j", "u4"), ("compared", "?")] +
                  [(k, pairs.dtype[k]) for k in pairs.dtype.names])
    out.pairs = np.zeros(c.na * c.nb, dt)
    for k in pairs.dtype.names:
        out.pairs[k] = pairs[k]
    out.pairs["i"] = np.repeat(np.arange(c.na), c.nb)
    out.pairs["j"] = np.tile(np.arange(c.nb), c.na)
    out.pairs["compared"] = compared
    out.matrix = np.where(compared, pairs["score"], np.nan).reshape(c.na, c.nb)
    out.phase_sam = np.ctypeslib.as_array(c.sam, (c.n_phases,)).copy()
    out.phase_pairs = np.ctypeslib.as_array(c.phase_pairs, (c.n_phases,)).copy()
    out.best_phase = c.best_phase
    out.score, out.runner_up = c.score, c.runner_up
    out.n_compared, out.n_matching = c.n_compared, c.n_matching
    out.verdict = lib.ibex_bullet_verdict_name(p.verdict).decode()
    out.reason = p.reason.decode(errors="replace")
    out.lands_a = [l.info() for l in A]
    out.lands_b = [l.info() for l in B]
    if out.mode == "land-to-bullet":
        out.best_land_score = p.best_land_score if p.best_land_score >= 0 else None
    return out
