"""IBEX from Python: the public C API of libibex.so through ctypes (no compiled extension).

    import ibex
    r = ibex.compare("Fadul_1-1.x3p", "Fadul_1-2.x3p")
    print(r.cmc, r.directions[0]["cmc"], r.verdict)

The library is found from $IBEX_LIBRARY, else the build tree next to this package
(build/libibex.so, b/libibex.so), else the system's (ctypes.util.find_library('ibex')).
Every failing call raises ibex.Error (.status "IBEX_ERR_FORMAT", .message "FILE: problem")."""
from ._lib import LayoutError, path as library_path
from .errors import Error
from .surface import Surface, read, read_png, read_x3p_bytes, write_image
from .compare import (CELL_DTYPE, CartridgeResult, align, cmc_opts, compare, compare_cartridges,
                      pair_spacing, preprocess, preprocess_opts)
from .bullet import (BulletResult, LandResult, LandSignature, compare_bullets, compare_lands,
                     land_opts, land_signature, signature_from_profile)
from .library import Library, file_sha256, read_manifest
from .index import Index
from . import progress, search, synth

__version__ = "0.1.0"
__all__ = ["Error", "LayoutError", "Surface", "read", "read_png", "read_x3p_bytes",
           "write_image", "preprocess", "preprocess_opts", "pair_spacing", "cmc_opts",
           "compare", "compare_cartridges", "CartridgeResult", "CELL_DTYPE", "align",
           "land_opts", "land_signature", "signature_from_profile", "LandSignature",
           "LandResult", "compare_lands", "compare_bullets", "BulletResult", "Library",
           "file_sha256", "read_manifest", "Index", "synth", "progress", "library_path"]
