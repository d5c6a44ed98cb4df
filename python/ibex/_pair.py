"""Mirrors and prototypes of ibex/pair.h: one pair of specimens compared the way
`ibex compare` compares them (ibex_compare_cartridges, ibex_compare_bullets). The mirrors
join _lib.MIRRORS, so tests/python/test_layout.py checks them against the C structs."""
import ctypes
from ctypes import POINTER as P, Structure, c_char, c_char_p, c_double, c_int, c_long, c_size_t

from . import _lib
from ._lib import lib


class PairOpts(Structure):
    _fields_ = [("struct_size", c_size_t), ("preprocess", P(_lib.PreprocessOpts)),
                ("cmc", P(_lib.CmcOpts)), ("prealign", c_int),
                ("prealign_opts", P(_lib.PrealignOpts))]


class PairResult(Structure):
    _fields_ = [("spacing", c_double), ("prepared", P(_lib.Surface) * 2),
                ("info", P(_lib.PreprocessInfo) * 2), ("cmc", P(_lib.CmcResult)),
                ("prealign", P(_lib.PrealignResult)), ("calibration", P(_lib.Calibration)),
                ("log10_lr", c_double), ("lr_verbal", c_char_p), ("simd", c_char_p),
                ("t_preprocess", c_double), ("t_compare", c_double)]


class PairLand(Structure):
    _fields_ = [("sig", P(_lib.LandSignature)), ("number", c_int), ("name", c_char_p)]


class BulletPairResult(Structure):
    _fields_ = [("mode", c_int), ("bullet", _lib.Bullet * 2), ("input", P(c_long) * 2),
                ("bullets", P(_lib.BulletResult)), ("best_land_score", c_double),
                ("best_i", c_size_t), ("best_j", c_size_t), ("verdict", c_int),
                ("reason", c_char * 1024)]


MODES = ("bullet", "land-to-bullet")   # ibex_bullet_pair_mode

_protos = {
    "ibex_pair_opts_init": (None, [P(PairOpts)]),
    "ibex_compare_cartridges": (c_int, [P(_lib.Surface), P(_lib.Surface), P(PairOpts),
                                        P(P(PairResult)), P(_lib.Diag)]),
    "ibex_pair_result_free": (None, [P(PairResult)]),
    "ibex_land_verdict": (c_int, [c_double]),
    "ibex_compare_bullets": (c_int, [P(PairLand), c_size_t, P(PairLand), c_size_t,
                                     P(P(BulletPairResult)), P(_lib.Diag)]),
    "ibex_bullet_pair_result_free": (None, [P(BulletPairResult)]),
}
for _name, (_res, _args) in _protos.items():
    _f = getattr(lib, _name)
    _f.restype, _f.argtypes = _res, _args
_lib._check_init(PairOpts, lib.ibex_pair_opts_init,
                 {"struct_size": ctypes.sizeof(PairOpts), "prealign": 0})
_lib.MIRRORS.update({"ibex_pair_opts": PairOpts, "ibex_pair_result": PairResult,
                     "ibex_pair_land": PairLand, "ibex_bullet_pair_result": BulletPairResult})
