"""The in-memory search index (ibex/index.h): unit rows of d floats scored by dot product,
top k best first (ties by lower row), the same for any thread count."""
import ctypes

import numpy as np

from . import _lib
from ._lib import lib
from .errors import check

_FP = ctypes.POINTER(ctypes.c_float)


class Index:
    """Index(d): rows added with add(rows (n x d)), queried with query(q (d,) or (nq x d), k)
    -> (rows, scores), numpy arrays (k,) or (nq, k); unused places hold row -1 when the
    index has fewer than k rows."""

    def __init__(self, d):
        self._h = ctypes.c_void_p()
        check(lib.ibex_index_create(d, ctypes.byref(self._h)))

    def __del__(self, _free=lib.ibex_index_free):  # bound now: module globals go at exit
        if getattr(self, "_h", None):
            _free(self._h)
            self._h = None

    def __len__(self):
        return lib.ibex_index_count(self._h)

    @property
    def dim(self):
        return lib.ibex_index_dim(self._h)

    def add(self, rows):
        x = np.ascontiguousarray(rows, dtype=np.float32).reshape(-1, self.dim)
        check(lib.ibex_index_add(self._h, x.ctypes.data_as(_FP), x.shape[0]))

    def query(self, q, k=10):
        x = np.ascontiguousarray(q, dtype=np.float32)
        single = x.ndim == 1
        x = x.reshape(-1, self.dim)
        hits = (_lib.Hit * (k * x.shape[0]))()
        n = ctypes.c_size_t()
        check(lib.ibex_index_query_batch(self._h, x.ctypes.data_as(_FP), x.shape[0], k, hits,
                                          ctypes.byref(n)))
        h = _lib.np_array(hits, _lib.Hit, k * x.shape[0]).reshape(x.shape[0], k)
        rows = h["row"].astype(np.int64)
        scores = h["score"].astype(np.float32)
        rows[:, n.value:] = -1          # n: hits per query, min(k, rows)
        scores[:, n.value:] = np.nan
        return (rows[0], scores[0]) if single else (rows, scores)
