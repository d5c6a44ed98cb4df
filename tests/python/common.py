"""What the Python package's tests share: tests/harness.py's checks, the package under test
(PYTHONPATH and IBEX_LIBRARY come from tests/python/meson.build), the real data directory."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from harness import IBEX, check, expect, failures, finish, run, write_x3p  # noqa: E402,F401

import ibex  # noqa: E402

DATA = os.environ.get("IBEX_DATA") or os.environ.get("IBEX_DATA_DEFAULT", "")


def real_file(*parts):
    """A file of the real data set, or exit 77 (skip) when the data is absent."""
    p = os.path.join(DATA, *parts)
    if not os.path.exists(p):
        print(f"SKIP: {p} not found (set IBEX_DATA)")
        sys.exit(77)
    return p


def raises(fn, status):
    """The ibex.Error fn raises, checked to carry status; None when it raised nothing."""
    try:
        fn()
    except ibex.Error as e:
        check(f"status {status}", e.status == status, f"{e.status}: {e.message}")
        return e
    check(f"raises {status}", False, "no exception")
    return None
