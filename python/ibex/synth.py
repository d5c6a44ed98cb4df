"""Seeded synthetic surfaces with known ground truth (ibex/synth.h), for tests and
controlled experiments: the same seeds give the same heights bit for bit."""
import ctypes

from . import _lib
from ._lib import lib
from .errors import check, diag
from .surface import Surface


def synth_opts(**kw):
    """size, spacing, difficulty (0 easy .. 1 hard), family_seed, lands."""
    o = _lib.SynthOpts()
    lib.ibex_synth_opts_init(ctypes.byref(o))
    return _lib.set_fields(o, kw, "synth")


def _run(fn, *args, **opts):
    o = synth_opts(**opts)
    p = ctypes.POINTER(_lib.Surface)()
    t = _lib.out_struct(_lib.SynthTruth)
    d = diag()
    check(fn(*args, ctypes.byref(o), ctypes.byref(p), ctypes.byref(t), ctypes.byref(d)), d)
    _lib.check_guard(t, fn.__name__)
    return Surface._wrap(p), _lib.to_dict(t)


def cartridge(firearm_seed, shot_seed, **opts):
    """One synthetic breech-face scan: (Surface, truth dict)."""
    return _run(lib.ibex_synth_cartridge, firearm_seed, shot_seed, **opts)


def land(barrel_seed, bullet_seed, land, **opts):
    """One synthetic land scan (land 0-based): (Surface, truth dict)."""
    return _run(lib.ibex_synth_land, barrel_seed, bullet_seed, land, **opts)
