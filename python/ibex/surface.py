"""Surfaces (ibex/surface.h, io.h, image.h): heights as numpy arrays, X3P and PNG files,
rendering to RGB pictures."""
import ctypes
import os
from collections.abc import MutableMapping

import numpy as np

from . import _lib
from ._lib import lib
from .errors import check, diag

ZKINDS = ("height", "intensity")
RENDER_STYLES = ("colour", "shaded", "grey")
READ_NO_VERIFY = 0x1
WRITE_FLOAT64 = 0x1
WRITE_NO_SYNC = 0x2


def _path(p):
    return os.fsencode(p)


class MetaMap(MutableMapping):
    """The surface's metadata fields (ISO 25178-72 Record2 and case fields), read and written
    through ibex_meta_get / ibex_meta_set. Only set fields are listed."""

    def __init__(self, surface):
        self._s = surface

    def _meta(self):
        return ctypes.byref(self._s._ptr.contents.meta)

    def __getitem__(self, key):
        if key not in _lib.META_KEYS:
            raise KeyError(key)
        v = lib.ibex_meta_get(self._meta(), key.encode())
        if v is None:
            raise KeyError(key)
        return v.decode(errors="replace")

    def __setitem__(self, key, value):
        k, v = str(key).encode(), None if value is None else str(value).encode()
        d = diag()
        check(lib.ibex_meta_check(k, v, d), d)  # names the key and the problem
        check(lib.ibex_meta_set(self._meta(), k, v))

    def __delitem__(self, key):
        self[key]
        self[key] = None

    def __iter__(self):
        m = self._s._ptr.contents.meta
        return iter([k for k in _lib.META_KEYS if getattr(m, k) is not None])

    def __len__(self):
        return len(list(iter(self)))

    def __repr__(self):
        return repr(dict(self))


class Surface:
    """A measured surface: heights z[y, x] in metres (NaN where invalid), spacing dx, dy in
    metres. The library holds heights as float32; numpy input is rounded to float32 once.

    Surface(z, dx, dy=None, x0=0, y0=0, valid=None, meta=None, zkind="height") makes one
    from a 2-D array (a masked array's mask, or valid=False, marks invalid points)."""

    def __init__(self, z, dx, dy=None, x0=0.0, y0=0.0, valid=None, meta=None, zkind="height"):
        if np.ma.isMaskedArray(z):
            z = np.ma.filled(z.astype(np.float64), np.nan)
        z = np.array(z, dtype=np.float32, order="C", copy=True)
        if z.ndim != 2:
            raise ValueError(f"heights must be a 2-D array (rows y, columns x), not {z.ndim}-D")
        if valid is not None:
            z[~np.asarray(valid, dtype=bool)] = np.nan
        ny, nx = z.shape
        p = ctypes.POINTER(_lib.Surface)()
        check(lib.ibex_surface_create(nx, ny, float(dx), float(dx if dy is None else dy),
                                      ctypes.byref(p)))
        self._set(p)
        ctypes.memmove(p.contents.z, z.ctypes.data, z.nbytes)
        lib.ibex_surface_sync_mask(p)
        c = p.contents
        c.x0, c.y0 = float(x0), float(y0)
        c.zkind = ZKINDS.index(zkind)
        for k, v in (meta or {}).items():
            self.meta[k] = v

    def _set(self, p):
        self._ptr = p
        self._as_parameter_ = p

    @classmethod
    def _wrap(cls, p):
        s = cls.__new__(cls)
        s._set(p)
        return s

    def __del__(self, _free=lib.ibex_surface_free):  # bound now: module globals go at exit
        p = getattr(self, "_ptr", None)
        if p:
            _free(p)
            self._ptr = None

    # -- attributes
    @property
    def nx(self):
        return self._ptr.contents.nx

    @property
    def ny(self):
        return self._ptr.contents.ny

    @property
    def shape(self):
        return (self.ny, self.nx)

    dx = property(lambda self: self._ptr.contents.dx)
    dy = property(lambda self: self._ptr.contents.dy)

    @property
    def x0(self):
        return self._ptr.contents.x0

    @x0.setter
    def x0(self, v):
        self._ptr.contents.x0 = float(v)

    @property
    def y0(self):
        return self._ptr.contents.y0

    @y0.setter
    def y0(self, v):
        self._ptr.contents.y0 = float(v)

    @property
    def zkind(self):
        return ZKINDS[self._ptr.contents.zkind]

    @property
    def units_note(self):
        return self._ptr.contents.units_note.decode(errors="replace")

    @property
    def meta(self):
        return MetaMap(self)

    @property
    def heights(self):
        """A copy of the heights, float32 (ny, nx), NaN where invalid."""
        c = self._ptr.contents
        return np.ctypeslib.as_array(c.z, (c.ny, c.nx)).copy()

    @property
    def valid(self):
        c = self._ptr.contents
        return np.ctypeslib.as_array(c.valid, (c.ny, c.nx)).astype(bool)

    def masked(self):
        """Heights as a numpy masked array (masked where invalid)."""
        return np.ma.masked_invalid(self.heights)

    def stats(self):
        st = _lib.out_struct(_lib.SurfaceStats)
        lib.ibex_surface_get_stats(self, ctypes.byref(st))
        _lib.check_guard(st, "ibex_surface_get_stats")
        return _lib.to_dict(st)

    def __repr__(self):
        return (f"<ibex.Surface {self.nx}x{self.ny} at {self.dx * 1e6:g} x {self.dy * 1e6:g} um, "
                f"{self.zkind}>")

    # -- new surfaces
    def copy(self):
        p = ctypes.POINTER(_lib.Surface)()
        check(lib.ibex_surface_copy(self, ctypes.byref(p)))
        return Surface._wrap(p)

    def crop(self, x, y, w, h):
        p = ctypes.POINTER(_lib.Surface)()
        check(lib.ibex_surface_crop(self, x, y, w, h, ctypes.byref(p)))
        return Surface._wrap(p)

    def resample(self, dx, dy=None):
        p = ctypes.POINTER(_lib.Surface)()
        check(lib.ibex_surface_resample(self, dx, dx if dy is None else dy, ctypes.byref(p)))
        return Surface._wrap(p)

    def preprocess(self, **opts):
        """ibex_preprocess with its options as keywords: (prepared Surface, info dict)."""
        from .compare import preprocess
        return preprocess(self, **opts)

    # -- files and pictures
    def write(self, path, float64=False, sync=True):
        """By extension: .png as 16-bit grey + alpha, anything else as X3P."""
        if str(path).lower().endswith(".png"):
            return self.write_png(path)
        return self.write_x3p(path, float64=float64, sync=sync)

    def write_x3p(self, path, float64=False, sync=True):
        """float64: store Z as D (the float32 heights exactly widened) instead of F."""
        d = diag()
        flags = (WRITE_FLOAT64 if float64 else 0) | (0 if sync else WRITE_NO_SYNC)
        check(lib.ibex_surface_write_x3p(self, _path(path), flags, ctypes.byref(d)), d, path)

    def write_png(self, path):
        d = diag()
        check(lib.ibex_surface_write_png(self, _path(path), ctypes.byref(d)), d, path)

    def render(self, style="colour", max_side=0, clip_quantile=0.01, invalid_rgb=None):
        """ibex_surface_render: an RGB picture, numpy uint8 (h, w, 3), row 0 = surface row 0."""
        o = _lib.RenderOpts()
        lib.ibex_render_opts_init(ctypes.byref(o))
        o.style = RENDER_STYLES.index(style)
        o.max_side = max_side
        o.clip_quantile = clip_quantile
        if invalid_rgb is not None:
            o.invalid_rgb[:] = list(invalid_rgb)
        im = ctypes.POINTER(_lib.Image)()
        check(lib.ibex_surface_render(self, ctypes.byref(o), ctypes.byref(im)))
        try:
            c = im.contents
            return np.ctypeslib.as_array(c.rgb, (c.h, c.w, 3)).copy()
        finally:
            lib.ibex_image_free(im)


def read(path, verify=True):
    """An X3P or PNG file (by extension, else magic bytes). verify=False skips MD5 checks."""
    p = ctypes.POINTER(_lib.Surface)()
    d = diag()
    check(lib.ibex_surface_read(_path(path), 0 if verify else READ_NO_VERIFY, ctypes.byref(p),
                                ctypes.byref(d)), d, path)
    return Surface._wrap(p)


def read_x3p_bytes(data, name="<memory>", verify=True):
    p = ctypes.POINTER(_lib.Surface)()
    d = diag()
    buf = ctypes.create_string_buffer(bytes(data), len(data))
    check(lib.ibex_surface_read_x3p_mem(buf, len(data), name.encode(),
                                        0 if verify else READ_NO_VERIFY, ctypes.byref(p),
                                        ctypes.byref(d)), d, name)
    return Surface._wrap(p)


def read_png(path, spacing=0.0):
    """spacing: metres per pixel, or 0 to take it from the file (else 1 um)."""
    p = ctypes.POINTER(_lib.Surface)()
    d = diag()
    check(lib.ibex_surface_read_png(_path(path), spacing, ctypes.byref(p), ctypes.byref(d)), d,
          path)
    return Surface._wrap(p)


def write_image(rgb, path):
    """Write an RGB picture (numpy uint8 (h, w, 3), e.g. from Surface.render) as PNG."""
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError("an RGB picture is a (h, w, 3) uint8 array")
    im = ctypes.POINTER(_lib.Image)()
    check(lib.ibex_image_create(rgb.shape[1], rgb.shape[0], ctypes.byref(im)))
    try:
        ctypes.memmove(im.contents.rgb, rgb.ctypes.data, rgb.nbytes)
        d = diag()
        check(lib.ibex_image_write_png(im, _path(path), ctypes.byref(d)), d, path)
    finally:
        lib.ibex_image_free(im)


def as_surface(x, verify=True):
    """A Surface as given, or read from a path."""
    return x if isinstance(x, Surface) else read(x, verify=verify)
