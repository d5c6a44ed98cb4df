"""Every ctypes mirror of python/ibex/_lib.py against the C struct: sizeof and the offset of
each field, compiled against the public headers (suite unit)."""
import ctypes
import os
import shlex
import subprocess
import tempfile

from common import check, finish
from ibex import _lib

root = os.environ["IBEX_SOURCE_ROOT"]
cc = shlex.split(os.environ.get("IBEX_CC") or os.environ.get("CC") or "cc")
lines = ['#include <stddef.h>', '#include <stdio.h>', '#include "ibex/ibex.h"', "int main(void)",
         "{"]
want = {}
for cname, T in _lib.MIRRORS.items():
    lines.append(f'    printf("{cname} %zu\\n", sizeof({cname}));')
    want[cname] = ctypes.sizeof(T)
    for f in T._fields_:
        key = f"{cname}.{f[0]}"
        lines.append(f'    printf("{key} %zu\\n", offsetof({cname}, {f[0]}));')
        want[key] = getattr(T, f[0]).offset
lines += ["    return 0;", "}"]
# The compiler and the layout program run without a sanitizer runtime preloaded for python.
env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
with tempfile.TemporaryDirectory() as d:
    src, exe = os.path.join(d, "layout.c"), os.path.join(d, "layout")
    open(src, "w").write("\n".join(lines) + "\n")
    inc = ["-I", os.path.join(root, "include"), "-I", os.environ["IBEX_BUILD_INCLUDE"]]
    r = subprocess.run(cc + ["-std=c17"] + inc + [src, "-o", exe],
                       capture_output=True, text=True, env=env)
    check("layout program builds", r.returncode == 0, r.stderr)
    if r.returncode:
        finish("python layout")
    out = subprocess.run([exe], capture_output=True, text=True, check=True, env=env).stdout
got = dict((k, int(v)) for k, v in (l.split() for l in out.splitlines()))
for k, v in want.items():
    check(f"{k}: mirror {v}, C {got.get(k)}", got.get(k) == v)
print(f"{len(_lib.MIRRORS)} structs, {len(want) - len(_lib.MIRRORS)} fields compared")
finish("python layout")
