"""Loading libibex.so, the ctypes mirrors of the public structs, and the function prototypes.

Every struct here mirrors one in include/ibex/*.h, field for field. A mirror that drifts from
the C struct corrupts memory silently, so three guards watch them:
  - at import, each struct with an *_init function (they all memset the whole struct) is
    initialised twice over two different fill patterns: the bytes the C call wrote must be
    exactly the mirror's bytes, no more (C struct larger) and no fewer (C struct smaller),
    and the documented defaults must land in the right fields;
  - structs the library writes into caller memory are allocated with a guard zone after
    them (out_struct), checked after each call (check_guard);
  - tests/python/test_layout.py compiles sizeof/offsetof of every mirrored field against
    the public headers and compares them with these mirrors.
"""
import ctypes
import ctypes.util
import os

import numpy as np
from ctypes import (CFUNCTYPE, POINTER, Structure, c_char, c_char_p, c_double, c_float, c_int,
                    c_int8, c_int32, c_int64, c_long, c_size_t, c_uint, c_uint8, c_uint64, c_ulong,
                    c_ulonglong, c_void_p)


class LayoutError(RuntimeError):
    """A ctypes mirror disagrees with the C struct of the loaded library."""


def _find_library():
    env = os.environ.get("IBEX_LIBRARY")
    if env:
        return env
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    for build in ("build", "b"):
        p = os.path.join(root, build, "libibex.so")
        if os.path.isfile(p):
            return p
    found = ctypes.util.find_library("ibex")
    if not found:
        raise OSError("libibex.so not found: set IBEX_LIBRARY to its path, or build IBEX "
                      "(meson setup build && ninja -C build) next to this package")
    return found


path = _find_library()
lib = ctypes.CDLL(path)

# ---- structs (include/ibex/*.h) ---------------------------------------------------------

META_KEYS = ("date", "creator", "instrument_manufacturer", "instrument_model",
             "instrument_serial", "instrument_version", "calibration_date", "probing_type",
             "probing_id", "comment", "agency", "case_number", "specimen_id", "specimen_kind",
             "region", "firearm_make", "firearm_model", "firearm_serial", "calibre")


class Diag(Structure):
    _fields_ = [("file", c_char * 512), ("offset", c_int64), ("message", c_char * 512)]


class Meta(Structure):
    _fields_ = [(k, c_char_p) for k in META_KEYS]


class Surface(Structure):
    _fields_ = [("nx", c_size_t), ("ny", c_size_t), ("dx", c_double), ("dy", c_double),
                ("x0", c_double), ("y0", c_double), ("z", POINTER(c_float)),
                ("valid", POINTER(c_uint8)), ("zkind", c_int), ("meta", Meta),
                ("units_note", c_char * 96), ("extras", c_void_p), ("z64", POINTER(c_double))]


class SurfaceStats(Structure):
    _fields_ = [("n_valid", c_size_t), ("valid_fraction", c_double), ("zmin", c_double),
                ("zmax", c_double), ("zmean", c_double), ("zrms", c_double)]


class Image(Structure):
    _fields_ = [("w", c_size_t), ("h", c_size_t), ("rgb", POINTER(c_uint8))]


class RenderOpts(Structure):
    _fields_ = [("struct_size", c_size_t), ("style", c_int), ("max_side", c_size_t), ("clip_quantile", c_double),
                ("invalid_rgb", c_uint8 * 3)]


class PreprocessOpts(Structure):
    _fields_ = [("struct_size", c_size_t), ("mode", c_int), ("spacing", c_double),
                ("max_side", c_size_t),
                ("lambda_short", c_double), ("lambda_long", c_double), ("outlier_k", c_double),
                ("crop_exterior", c_int), ("remove_firing_pin", c_int)]


class PreprocessInfo(Structure):
    _fields_ = [("already_processed", c_int), ("cropped", c_int), ("band_limited", c_int),
                ("long_wave_fraction", c_double), ("spacing_in", c_double),
                ("spacing_out", c_double), ("plane", c_double * 3), ("outliers", c_size_t),
                ("centre_x", c_double), ("centre_y", c_double), ("r_outer", c_double),
                ("r_firing_pin", c_double), ("valid_fraction", c_double),
                ("steps", c_char * 384)]


class CmcOpts(Structure):
    _fields_ = [("struct_size", c_size_t), ("cells_x", c_uint), ("cells_y", c_uint),
                ("theta_min", c_double),
                ("theta_max", c_double), ("theta_step", c_double), ("region_factor", c_double),
                ("min_valid_frac", c_double), ("min_overlap_frac", c_double),
                ("t_xy_m", c_double), ("t_theta", c_double), ("t_ccf", c_double),
                ("tau", c_uint), ("id_threshold", c_uint), ("elim_threshold", c_uint),
                ("threads", c_uint), ("fft_plans", c_int), ("template_budget", c_size_t),
                ("experimental", c_void_p)]


class CmcCell(Structure):
    _fields_ = [("direction", c_uint), ("row", c_uint), ("col", c_uint), ("x", c_size_t),
                ("y", c_size_t), ("w", c_size_t), ("h", c_size_t), ("valid_frac", c_double),
                ("used", c_int), ("ccf", c_double), ("theta", c_double), ("dx", c_double),
                ("dy", c_double), ("cmc", c_int), ("cmc_high", c_int),
                ("high_theta", c_double), ("high_dx", c_double), ("high_dy", c_double),
                ("high_ccf", c_double)]


class CmcDirection(Structure):
    _fields_ = [("cells_used", c_uint), ("cmc", c_uint), ("cmc_high", c_uint),
                ("high_pass", c_int), ("theta", c_double), ("dx", c_double), ("dy", c_double),
                ("high_theta", c_double), ("score", c_double)]


class CmcResult(Structure):
    _fields_ = [("dir", CmcDirection * 2), ("cmc", c_uint), ("cmc_high", c_uint),
                ("score", c_double), ("verdict", c_int), ("theta", c_double),
                ("dx", c_double), ("dy", c_double), ("full_ccf", c_double),
                ("spacing", c_double), ("n_cells", c_size_t), ("cells", POINTER(CmcCell)),
                ("t_total", c_double), ("t_rotate", c_double), ("t_fft", c_double),
                ("t_ncc", c_double), ("t_decision", c_double), ("fft_flops", c_double),
                ("fft_nx", c_size_t), ("fft_ny", c_size_t), ("bytes_peak", c_size_t),
                ("t_fine", c_double), ("lags_direct", c_ulonglong), ("searches", c_size_t),
                ("fallbacks", c_size_t), ("search_mismatches", c_size_t)]


class PrealignOpts(Structure):
    _fields_ = [("struct_size", c_size_t), ("snap_deg", c_double)]


class PrealignResult(Structure):
    _fields_ = [("found", c_int), ("theta_found", c_double), ("theta", c_double),
                ("ncc", c_double), ("overlap", c_double), ("seconds", c_double)]


class Calibration(Structure):
    _fields_ = [("id", c_char * 64), ("score", c_char * 32), ("a", c_double), ("b", c_double),
                ("log10_lo", c_double), ("log10_hi", c_double), ("n_match", c_size_t),
                ("n_nonmatch", c_size_t)]


class LandOpts(Structure):
    _fields_ = [("struct_size", c_size_t), ("axis", c_int), ("spacing", c_double),
                ("band", c_double),
                ("sigma_short", c_double), ("sigma_long", c_double), ("min_width", c_double),
                ("min_stability", c_double)]


class LandSignature(Structure):
    _fields_ = [("n", c_size_t), ("spacing", c_double), ("sig", POINTER(c_float)),
                ("valid", POINTER(c_uint8)), ("n_valid", c_size_t), ("axis", c_int),
                ("axis_ratio", c_double), ("crosscut", c_double), ("stability", c_double),
                ("groove_left", c_double), ("groove_right", c_double), ("offset", c_double),
                ("n_striae", c_size_t), ("striae_pos", POINTER(c_int32)),
                ("striae_type", POINTER(c_int8)), ("filled", POINTER(c_float)),
                ("psum", POINTER(c_double)), ("psum2", POINTER(c_double))]


class LandResult(Structure):
    _fields_ = [("ccf", c_double), ("lag", c_long), ("lag_m", c_double), ("overlap", c_double),
                ("overlap_m", c_double), ("distance", c_double), ("cms", c_int),
                ("matches", c_int), ("mismatches", c_int), ("matches_per_mm", c_double),
                ("mismatches_per_mm", c_double), ("match_share", c_double),
                ("distance_rel", c_double), ("score", c_double)]


class Bullet(Structure):
    _fields_ = [("n_lands", c_size_t), ("lands", POINTER(POINTER(LandSignature)))]


class BulletResult(Structure):
    _fields_ = [("na", c_size_t), ("nb", c_size_t), ("pairs", POINTER(LandResult)),
                ("compared", POINTER(c_uint8)), ("n_phases", c_size_t),
                ("sam", POINTER(c_double)), ("phase_pairs", POINTER(c_size_t)),
                ("best_phase", c_size_t), ("score", c_double), ("runner_up", c_double),
                ("n_compared", c_size_t), ("n_matching", c_size_t), ("verdict", c_int),
                ("reason", c_char * 160)]


PREPROCESS_FN = CFUNCTYPE(c_int, POINTER(Surface), POINTER(POINTER(Surface)), c_void_p,
                          POINTER(Diag))
# ibex/progress.h, for the long library calls (index, query) as they become public.
PROGRESS_FN = CFUNCTYPE(c_int, c_void_p, c_char_p, c_size_t, c_size_t, c_double)


class LibraryOpts(Structure):
    _fields_ = [("struct_size", c_size_t), ("flags", c_uint), ("params", c_char_p),
                ("preprocess", PREPROCESS_FN),
                ("preprocess_user", c_void_p)]


class Specimen(Structure):
    _fields_ = [("id", c_char_p), ("kind", c_char_p), ("region", c_char_p),
                ("source_path", c_char_p), ("set", c_char_p), ("firearm_id", c_char_p),
                ("same_source_key", c_char_p), ("sha256", c_char * 65),
                ("ingest_time", c_int64), ("meta", Meta), ("nx", c_size_t), ("ny", c_size_t),
                ("dx", c_double), ("dy", c_double), ("n_valid", c_size_t)]


class SynthOpts(Structure):
    _fields_ = [("struct_size", c_size_t), ("size", c_size_t), ("spacing", c_double),
                ("difficulty", c_double),
                ("family_seed", c_uint64), ("lands", c_int)]


class SynthTruth(Structure):
    _fields_ = [("rotation", c_double), ("shift_x", c_double), ("shift_y", c_double),
                ("transfer", c_double), ("missing_fraction", c_double), ("pattern", c_int),
                ("land_class", c_int), ("land_offset", c_int)]


class Hit(Structure):
    _fields_ = [("row", c_size_t), ("score", c_float)]


# Every mirror, for the layout test.
MIRRORS = {"ibex_diag": Diag, "ibex_meta": Meta, "ibex_surface": Surface,
           "ibex_surface_stats": SurfaceStats, "ibex_image": Image,
           "ibex_render_opts": RenderOpts, "ibex_preprocess_opts": PreprocessOpts,
           "ibex_preprocess_info": PreprocessInfo, "ibex_cmc_opts": CmcOpts,
           "ibex_cmc_cell": CmcCell, "ibex_cmc_direction": CmcDirection,
           "ibex_cmc_result": CmcResult, "ibex_prealign_opts": PrealignOpts,
           "ibex_prealign_result": PrealignResult, "ibex_calibration": Calibration,
           "ibex_land_opts": LandOpts, "ibex_land_signature": LandSignature,
           "ibex_land_result": LandResult, "ibex_bullet": Bullet,
           "ibex_bullet_result": BulletResult, "ibex_library_opts": LibraryOpts,
           "ibex_specimen": Specimen, "ibex_synth_opts": SynthOpts,
           "ibex_synth_truth": SynthTruth, "ibex_hit": Hit}

# ---- prototypes --------------------------------------------------------------------------

P = POINTER
PP_SURF = P(P(Surface))
_protos = {
    "ibex_strerror": (c_char_p, [c_int]),
    "ibex_status_name": (c_char_p, [c_int]),
    "ibex_diag_clear": (None, [P(Diag)]),
    "ibex_diag_format": (c_char_p, [P(Diag), c_int, c_char_p, c_ulong]),
    "ibex_meta_get": (c_char_p, [P(Meta), c_char_p]),
    "ibex_meta_set": (c_int, [P(Meta), c_char_p, c_char_p]),
    "ibex_meta_check": (c_int, [c_char_p, c_char_p, P(Diag)]),
    "ibex_meta_copy": (c_int, [P(Meta), P(Meta)]),
    "ibex_meta_clear": (None, [P(Meta)]),
    "ibex_meta_count": (c_size_t, []),
    "ibex_meta_key": (c_char_p, [c_size_t]),
    "ibex_surface_create": (c_int, [c_size_t, c_size_t, c_double, c_double, PP_SURF]),
    "ibex_surface_free": (None, [P(Surface)]),
    "ibex_surface_copy": (c_int, [P(Surface), PP_SURF]),
    "ibex_surface_sync_mask": (None, [P(Surface)]),
    "ibex_surface_crop": (c_int, [P(Surface), c_size_t, c_size_t, c_size_t, c_size_t, PP_SURF]),
    "ibex_surface_resample": (c_int, [P(Surface), c_double, c_double, PP_SURF]),
    "ibex_surface_get_stats": (None, [P(Surface), P(SurfaceStats)]),
    "ibex_surface_read": (c_int, [c_char_p, c_uint, PP_SURF, P(Diag)]),
    "ibex_surface_read_x3p": (c_int, [c_char_p, c_uint, PP_SURF, P(Diag)]),
    "ibex_surface_read_x3p_mem": (c_int, [c_void_p, c_size_t, c_char_p, c_uint, PP_SURF, P(Diag)]),
    "ibex_surface_write_x3p": (c_int, [P(Surface), c_char_p, c_uint, P(Diag)]),
    "ibex_surface_read_png": (c_int, [c_char_p, c_double, PP_SURF, P(Diag)]),
    "ibex_surface_write_png": (c_int, [P(Surface), c_char_p, P(Diag)]),
    "ibex_image_create": (c_int, [c_size_t, c_size_t, P(P(Image))]),
    "ibex_image_free": (None, [P(Image)]),
    "ibex_image_write_png": (c_int, [P(Image), c_char_p, P(Diag)]),
    "ibex_render_opts_init": (None, [P(RenderOpts)]),
    "ibex_surface_render": (c_int, [P(Surface), P(RenderOpts), P(P(Image))]),
    "ibex_preprocess_opts_init": (None, [P(PreprocessOpts)]),
    "ibex_preprocess_pair_spacing": (c_double, [P(Surface), P(Surface), P(PreprocessOpts)]),
    "ibex_preprocess": (c_int, [P(Surface), P(PreprocessOpts), PP_SURF, P(PreprocessInfo),
                                P(Diag)]),
    "ibex_verdict_name": (c_char_p, [c_int]),
    "ibex_cmc_opts_init": (None, [P(CmcOpts)]),
    "ibex_cmc_plan_create": (c_int, [P(CmcOpts), P(c_void_p), P(Diag)]),
    "ibex_cmc_plan_run": (c_int, [c_void_p, P(Surface), P(Surface), P(P(CmcResult)), P(Diag)]),
    "ibex_cmc_result_free": (None, [P(CmcResult)]),
    "ibex_cmc_plan_free": (None, [c_void_p]),
    "ibex_cmc_plan_simd": (c_char_p, [c_void_p]),
    "ibex_cmc_align": (c_int, [P(Surface), P(Surface), c_double, c_double, c_double, PP_SURF,
                               P(Diag)]),
    "ibex_prealign_opts_init": (None, [P(PrealignOpts)]),
    "ibex_cmc_plan_run_prealigned": (c_int, [c_void_p, P(Surface), P(Surface), P(PrealignOpts),
                                             P(P(CmcResult)), P(PrealignResult), P(Diag)]),
    "ibex_calibration_shipped_cmc": (P(Calibration), [P(CmcOpts), c_int]),
    "ibex_calibration_shipped": (P(Calibration), [c_char_p]),
    "ibex_calibration_log10_lr": (c_double, [P(Calibration), c_double]),
    "ibex_lr_verbal": (c_char_p, [c_double]),
    "ibex_land_opts_init": (None, [P(LandOpts)]),
    "ibex_land_signature_create": (c_int, [P(Surface), P(LandOpts), P(P(LandSignature)),
                                           P(Diag)]),
    "ibex_land_signature_from_profile": (c_int, [P(c_float), c_size_t, c_double, P(LandOpts),
                                                 P(P(LandSignature)), P(Diag)]),
    "ibex_land_signature_free": (None, [P(LandSignature)]),
    "ibex_land_compare": (c_int, [P(LandSignature), P(LandSignature), P(LandResult), P(Diag)]),
    "ibex_bullet_verdict_name": (c_char_p, [c_int]),
    "ibex_bullet_compare": (c_int, [P(Bullet), P(Bullet), P(P(BulletResult)), P(Diag)]),
    "ibex_bullet_result_free": (None, [P(BulletResult)]),
    "ibex_library_opts_init": (None, [P(LibraryOpts)]),
    "ibex_specimen_clear": (None, [P(Specimen)]),
    "ibex_library_create": (c_int, [c_char_p, P(LibraryOpts), P(c_void_p), P(Diag)]),
    "ibex_library_open": (c_int, [c_char_p, P(LibraryOpts), P(c_void_p), P(Diag)]),
    "ibex_library_close": (c_int, [c_void_p, P(Diag)]),
    "ibex_library_begin": (c_int, [c_void_p, P(Diag)]),
    "ibex_library_commit": (c_int, [c_void_p, P(Diag)]),
    "ibex_library_prepare": (c_int, [c_void_p, P(Surface), PP_SURF, P(Diag)]),
    "ibex_library_add": (c_int, [c_void_p, P(Specimen), P(Surface), P(c_size_t), P(Diag)]),
    "ibex_library_count": (c_size_t, [c_void_p]),
    "ibex_library_params": (c_char_p, [c_void_p]),
    "ibex_library_get_info": (c_int, [c_void_p, c_size_t, P(Specimen), P(Diag)]),
    "ibex_library_get_surface": (c_int, [c_void_p, c_size_t, PP_SURF, P(Diag)]),
    "ibex_library_find_hash": (c_int, [c_void_p, c_char_p, P(c_size_t)]),
    "ibex_library_find_id": (c_int, [c_void_p, c_char_p, P(c_size_t)]),
    "ibex_file_sha256": (c_int, [c_char_p, c_char * 65, P(Diag)]),
    "ibex_synth_opts_init": (None, [P(SynthOpts)]),
    "ibex_synth_cartridge": (c_int, [c_uint64, c_uint64, P(SynthOpts), PP_SURF, P(SynthTruth),
                                     P(Diag)]),
    "ibex_synth_land": (c_int, [c_uint64, c_uint64, c_int, P(SynthOpts), PP_SURF,
                                P(SynthTruth), P(Diag)]),
    "ibex_fft_wisdom_open": (c_int, [c_char_p, P(Diag)]),
    "ibex_index_create": (c_int, [c_size_t, P(c_void_p)]),
    "ibex_index_free": (None, [c_void_p]),
    "ibex_index_add": (c_int, [c_void_p, P(c_float), c_size_t]),
    "ibex_index_count": (c_size_t, [c_void_p]),
    "ibex_index_dim": (c_size_t, [c_void_p]),
    "ibex_index_query_batch": (c_int, [c_void_p, P(c_float), c_size_t, c_size_t, P(Hit),
                                       P(c_size_t)]),
}
for _name, (_res, _args) in _protos.items():
    _f = getattr(lib, _name)
    _f.restype = _res
    _f.argtypes = _args

# Pinned FFT plans, as the ibex command uses them (include/ibex/fft.h): the wisdom file is
# read when a plan is first needed; without a usable path the plans are FFTW_ESTIMATE.
lib.ibex_fft_wisdom_open(None, None)

# ---- guards --------------------------------------------------------------------------------

GUARD = 64


def out_struct(T):
    """A T for the library to write into, followed by GUARD sentinel bytes (check_guard)."""
    buf = (c_uint8 * (ctypes.sizeof(T) + GUARD))()
    ctypes.memset(ctypes.addressof(buf) + ctypes.sizeof(T), 0xA5, GUARD)
    return T.from_buffer(buf)


def check_guard(obj, call):
    tail = ctypes.string_at(ctypes.addressof(obj) + ctypes.sizeof(obj), GUARD)
    if tail != b"\xa5" * GUARD:
        raise LayoutError(f"{call} wrote past the end of {type(obj).__name__} "
                          f"({ctypes.sizeof(obj)} bytes): the mirror is smaller than the C struct")


def _written(T, init):
    """Which bytes of sizeof(T) + GUARD an init call writes, from two fill patterns."""
    n = ctypes.sizeof(T) + GUARD
    runs = []
    for fill in (0xA5, 0x5A):
        buf = (c_uint8 * n)()
        ctypes.memset(buf, fill, n)
        init(ctypes.cast(buf, init.argtypes[0]))
        runs.append(bytes(buf))
    written = [not (runs[0][i] == 0xA5 and runs[1][i] == 0x5A) for i in range(n)]
    return written, T.from_buffer_copy(runs[0][:ctypes.sizeof(T)])


def _check_init(T, init, defaults):
    written, obj = _written(T, init)
    size = ctypes.sizeof(T)
    if not all(written[:size]) or any(written[size:]):
        c_size = sum(written)
        raise LayoutError(f"{T.__name__}: the mirror has {size} bytes, {init.__name__} "
                          f"writes {c_size}: include/ibex changed, update python/ibex/_lib.py")
    for k, v in defaults.items():
        got = getattr(obj, k)
        if got != v:
            raise LayoutError(f"{T.__name__}.{k}: {init.__name__} gives {got!r}, expected "
                              f"{v!r}: the mirror's field offsets are wrong")


def _check_layouts():
    _check_init(PreprocessOpts, lib.ibex_preprocess_opts_init,
                {"spacing": 6.25e-6, "max_side": 1024, "lambda_short": 16e-6,
                 "lambda_long": 500e-6, "crop_exterior": 1, "remove_firing_pin": 1})
    _check_init(CmcOpts, lib.ibex_cmc_opts_init,
                {"cells_x": 8, "cells_y": 8, "theta_min": -30.0, "theta_max": 30.0,
                 "theta_step": 3.0, "t_ccf": 0.5, "id_threshold": 6, "elim_threshold": 2})
    _check_init(LandOpts, lib.ibex_land_opts_init, {"spacing": 2e-6, "band": 20e-6})
    _check_init(RenderOpts, lib.ibex_render_opts_init, {"clip_quantile": 0.01})
    _check_init(LibraryOpts, lib.ibex_library_opts_init, {"flags": 0})
    _check_init(SynthOpts, lib.ibex_synth_opts_init, {"difficulty": 0.5})
    d = Diag()
    ctypes.memset(ctypes.byref(d), 0x41, ctypes.sizeof(d))
    lib.ibex_diag_clear(d)
    if d.offset != -1 or d.file != b"" or d.message != b"":
        raise LayoutError("Diag: ibex_diag_clear did not clear the mirrored fields")
    # A surface the library made: its scalar fields and the last metadata pointer.
    s = P(Surface)()
    if lib.ibex_surface_create(3, 2, 1e-6, 2e-6, ctypes.byref(s)) != 0:
        raise MemoryError("ibex_surface_create")
    try:
        c = s.contents
        lib.ibex_meta_set(ctypes.byref(c.meta), b"calibre", b"9 mm")
        ok = (c.nx, c.ny, c.dx, c.dy, c.x0, c.y0, c.zkind, c.units_note, c.extras) == \
            (3, 2, 1e-6, 2e-6, 0.0, 0.0, 0, b"", None) and c.meta.calibre == b"9 mm"
    finally:
        lib.ibex_surface_free(s)
    if not ok:
        raise LayoutError("Surface: fields of ibex_surface_create's surface read back wrong")
    if lib.ibex_meta_count() != len(META_KEYS) or any(
            lib.ibex_meta_key(i).decode() != k for i, k in enumerate(META_KEYS)):
        raise LayoutError("Meta: ibex_meta_key lists other fields than the mirror")


_check_layouts()


# ---- small helpers shared by the wrappers -------------------------------------------------

def to_dict(s, skip=()):
    """A struct's fields as plain Python values (char arrays as str, arrays as lists)."""
    out = {}
    for name, *_ in s._fields_:
        if name in skip:
            continue
        v = getattr(s, name)
        if isinstance(v, bytes):
            v = v.decode(errors="replace")
        elif isinstance(v, ctypes.Array):
            v = list(v)
        out[name] = v
    return out


_NP = {c_int: "i4", c_uint: "u4", c_double: "f8", c_float: "f4", c_size_t: "u8", c_long: "i8",
       c_int64: "i8", c_uint8: "u1", c_int8: "i1", c_int32: "i4", c_ulonglong: "u8"}


def np_dtype(T):
    """The numpy dtype of a struct of scalar fields, at the mirror's offsets."""
    names = [f[0] for f in T._fields_]
    return np.dtype({"names": names, "formats": [_NP[f[1]] for f in T._fields_],
                     "offsets": [getattr(T, n).offset for n in names],
                     "itemsize": ctypes.sizeof(T)})


def np_array(ptr, T, n):
    """A copy of n structs T at ptr, as a numpy structured array."""
    if n == 0:
        return np.zeros(0, np_dtype(T))
    return np.frombuffer(ctypes.string_at(ptr, n * ctypes.sizeof(T)), np_dtype(T)).copy()


def set_fields(s, kw, what):
    """Set struct fields from keyword arguments; unknown names are a TypeError."""
    names = {f[0] for f in s._fields_} - {"struct_size", "experimental"}
    for k, v in kw.items():
        if k not in names:
            raise TypeError(f"{what}: unknown option {k!r} (options: {', '.join(sorted(names))})")
        setattr(s, k, v)
    return s
