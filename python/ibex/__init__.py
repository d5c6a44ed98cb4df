"""IBEX from Python: the public C API of libibex.so through ctypes.

    import ibex
    r = ibex.compare("Fadul_1-1.x3p", "Fadul_1-2.x3p")
    print(r.cmc, r.verdict)

The library is found from $IBEX_LIBRARY, else the build tree next to this package
(build/libibex.so, b/libibex.so), else the system's (ctypes.util.find_library)."""
from ._lib import LayoutError, path as library_path
from .errors import Error
from .surface import Surface, read, read_png, read_x3p_bytes, write_image
from .compare import (CartridgeResult, cmc_opts, compare_cartridges, pair_spacing, preprocess,
                      preprocess_opts)

__all__ = ["Error", "LayoutError", "Surface", "read", "read_png", "read_x3p_bytes",
           "write_image", "preprocess", "preprocess_opts", "pair_spacing", "cmc_opts",
           "compare_cartridges", "CartridgeResult", "library_path"]
