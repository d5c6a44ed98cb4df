"""The stage-1 index and the two-stage search of a reference library (ibex/library.h
ibex_library_index_update, ibex/search.h ibex_search_run): what `ibex index` and
`ibex query` do, as Library.index() and Library.query()."""
import ctypes
import math
from ctypes import POINTER as P, Structure, c_char, c_char_p, c_double, c_float, c_int, c_size_t, \
    c_uint, c_void_p

from . import _lib
from ._lib import PROGRESS_FN, Diag, lib
from .errors import check, diag
from .progress import callback

N_KINDS = 2


class SearchOpts(Structure):
    _fields_ = [("struct_size", c_size_t), ("shortlist", c_size_t), ("threads", c_uint),
                ("stage1_only", c_int), ("exclude_self", c_int), ("kind", c_char_p),
                ("prealign", c_int), ("within", c_char_p), ("progress", PROGRESS_FN),
                ("progress_user", c_void_p), ("shard", c_void_p), ("self_sha256", c_void_p),
                ("on_candidate", c_void_p), ("candidate_user", c_void_p),  # not streamed from Python
                ("keep_comparisons", c_int), ("exact_top", c_size_t)]

EXACT_ALL = (1 << (8 * ctypes.sizeof(c_size_t))) - 1  # IBEX_SEARCH_EXACT_ALL


class SearchCandidate(Structure):
    _fields_ = [("row", c_size_t), ("id", c_char_p), ("kind", c_char_p), ("firearm_id", c_char_p),
                ("same_source_key", c_char_p), ("stage1", c_float), ("done", c_int),
                ("score", c_double), ("cmc", c_uint), ("cmc_high", c_uint), ("cells_a", c_uint),
                ("cells_b", c_uint), ("ccf", c_double), ("verdict", c_int), ("has_lr", c_int),
                ("log10_lr", c_double), ("lr_verbal", c_char_p), ("error", c_char * 160),
                ("comparison", c_void_p), ("prepared_query", c_void_p), ("prepared_candidate", c_void_p),
                ("screen", c_double), ("screened_out", c_int)]


class SearchInfo(Structure):
    _fields_ = [("kind", c_char_p), ("bullet", c_int), ("library_rows", c_size_t),
                ("indexed", c_size_t), ("not_indexed", c_size_t), ("kind_known", c_int),
                ("stage2", c_int), ("prealign", c_int), ("lr_calibration", c_char_p),
                ("queries", c_size_t), ("t_open", c_double), ("t_load_index", c_double),
                ("t_descriptors", c_double), ("t_search", c_double), ("t_stage1", c_double),
                ("t_stage2", c_double), ("t_total", c_double), ("exact_top", c_size_t),
                ("screened", c_size_t), ("t_screen", c_double)]


class IndexUpdateOpts(Structure):
    _fields_ = [("struct_size", c_size_t), ("refit", c_int), ("progress", PROGRESS_FN),
                ("progress_user", c_void_p)]


class IndexRefusal(Structure):
    _fields_ = [("row", c_size_t), ("id", c_char * 256), ("message", c_char * 512)]


class IndexUpdateResult(Structure):
    _fields_ = [("struct_size", c_size_t), ("refusals", P(IndexRefusal)), ("n_refusals", c_size_t),
                ("specimens", c_size_t), ("new_rows", c_size_t), ("indexed", c_size_t),
                ("refused", c_size_t), ("other_rows", c_size_t), ("refit", c_int),
                ("basis_pending", c_int), ("kind_indexed", c_size_t * N_KINDS),
                ("kind_fit_count", c_size_t * N_KINDS), ("kind_fitted", c_int * N_KINDS),
                ("dim", c_size_t), ("seconds", c_double)]


_protos = {
    "ibex_search_opts_init": (None, [P(SearchOpts)]),
    "ibex_search_run": (c_int, [c_void_p, P(P(_lib.Surface)), P(c_char_p), c_size_t, P(SearchOpts),
                                P(c_void_p), P(Diag)]),
    "ibex_search_result_info": (P(SearchInfo), [c_void_p]),
    "ibex_search_result_count": (c_size_t, [c_void_p, c_size_t]),
    "ibex_search_result_get": (P(SearchCandidate), [c_void_p, c_size_t, c_size_t]),
    "ibex_search_result_free": (None, [c_void_p]),
    "ibex_verdict_name": (c_char_p, [c_int]),
    "ibex_index_kind_name": (c_char_p, [c_int]),
    "ibex_index_update_opts_init": (None, [P(IndexUpdateOpts)]),
    "ibex_index_update_result_init": (None, [P(IndexUpdateResult)]),
    "ibex_index_update_result_clear": (None, [P(IndexUpdateResult)]),
    "ibex_library_index_update": (c_int, [c_void_p, P(IndexUpdateOpts), P(IndexUpdateResult),
                                          P(Diag)]),
}
for _name, (_res, _args) in _protos.items():
    _f = getattr(lib, _name)
    _f.restype, _f.argtypes = _res, _args
for _T, _init in ((SearchOpts, lib.ibex_search_opts_init),
                  (IndexUpdateOpts, lib.ibex_index_update_opts_init),
                  (IndexUpdateResult, lib.ibex_index_update_result_init)):
    _lib._check_init(_T, _init, {"struct_size": ctypes.sizeof(_T)})
_lib.MIRRORS.update({"ibex_search_opts": SearchOpts, "ibex_search_candidate": SearchCandidate,
                     "ibex_search_info": SearchInfo, "ibex_index_update_opts": IndexUpdateOpts,
                     "ibex_index_refusal": IndexRefusal,
                     "ibex_index_update_result": IndexUpdateResult})


def _s(b):
    return b.decode(errors="replace") if b is not None else None


def index_update(handle, refit=False, progress=None):
    """ibex_library_index_update on an open, writable library: a dict of its summary, with
    the refused specimens as a list of (row, id, message)."""
    o = IndexUpdateOpts()
    lib.ibex_index_update_opts_init(ctypes.byref(o))
    o.refit = 1 if refit else 0
    cb = callback(progress)
    o.progress = cb.c
    r = IndexUpdateResult()
    lib.ibex_index_update_result_init(ctypes.byref(r))
    d = diag()
    st = lib.ibex_library_index_update(handle, ctypes.byref(o), ctypes.byref(r), ctypes.byref(d))
    cb.reraise()
    check(st, d)
    try:
        out = {k: getattr(r, k) for k in ("specimens", "new_rows", "indexed", "refused",
                                          "other_rows", "dim", "seconds")}
        out["refit"], out["basis_pending"] = bool(r.refit), bool(r.basis_pending)
        out["kinds"] = {lib.ibex_index_kind_name(k).decode(): {
            "indexed": r.kind_indexed[k], "fit_count": r.kind_fit_count[k],
            "fitted": bool(r.kind_fitted[k])} for k in range(N_KINDS)}
        out["refusals"] = [(r.refusals[i].row, _s(r.refusals[i].id), _s(r.refusals[i].message))
                           for i in range(r.n_refusals)]
    finally:
        lib.ibex_index_update_result_clear(ctypes.byref(r))
    return out


def _candidate(c):
    return {"row": c.row, "id": _s(c.id), "kind": _s(c.kind), "firearm_id": _s(c.firearm_id),
            "same_source_key": _s(c.same_source_key), "stage1": c.stage1, "done": bool(c.done),
            "score": c.score, "cmc": c.cmc, "cmc_high": c.cmc_high, "cells_a": c.cells_a,
            "cells_b": c.cells_b, "ccf": c.ccf,
            "verdict": lib.ibex_verdict_name(c.verdict).decode() if c.done else None,
            "log10_lr": c.log10_lr if c.has_lr else None, "lr_verbal": _s(c.lr_verbal) if c.has_lr else None,
            "error": _s(c.error) or None,
            "screen": None if math.isnan(c.screen) else c.screen, "screened_out": bool(c.screened_out)}


def search(handle, surfaces, names, shortlist=0, threads=0, stage1_only=False, exclude_self=False,
           kind=None, prealign=False, within=None, progress=None, exact_top=0):
    """ibex_search_run: for each query, its ranked candidates as a list of dicts, plus the
    batch summary (dict). exact_top: the two-step stage 2's K (0: the default, 10;
    "all": CMC for the whole shortlist)."""
    o = SearchOpts()
    lib.ibex_search_opts_init(ctypes.byref(o))
    o.shortlist, o.threads = shortlist, threads
    o.exact_top = EXACT_ALL if exact_top == "all" else int(exact_top)
    o.stage1_only, o.exclude_self, o.prealign = int(stage1_only), int(exclude_self), int(prealign)
    keep = [kind.encode() if kind else None, str(within).encode() if within else None]
    o.kind, o.within = keep
    cb = callback(progress)
    o.progress = cb.c
    n = len(surfaces)
    qs = (P(_lib.Surface) * n)(*[s._ptr for s in surfaces])
    nm = (c_char_p * n)(*[str(x).encode() for x in names])
    res = c_void_p()
    d = diag()
    st = lib.ibex_search_run(handle, qs, nm, n, ctypes.byref(o), ctypes.byref(res), ctypes.byref(d))
    cb.reraise()
    check(st, d)
    try:
        i = lib.ibex_search_result_info(res).contents
        info = {f[0]: getattr(i, f[0]) for f in SearchInfo._fields_}
        info["kind"], info["lr_calibration"] = _s(i.kind), _s(i.lr_calibration)
        ranked = [[_candidate(lib.ibex_search_result_get(res, q, h).contents)
                   for h in range(lib.ibex_search_result_count(res, q))] for q in range(n)]
    finally:
        lib.ibex_search_result_free(res)
    return ranked, info
