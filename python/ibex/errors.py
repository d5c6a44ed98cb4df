"""ibex.Error: a non-OK ibex_status, with its enumerator name and the diagnostic line."""
import ctypes

from . import _lib
from ._lib import lib


class Error(Exception):
    """A library call failed. status: the enumerator name ("IBEX_ERR_FORMAT"); message: the
    file and the problem, as ibex_diag_format gives them."""

    def __init__(self, status, message):
        super().__init__(f"{message} [{status}]")
        self.status = status
        self.message = message


def status_name(st):
    return lib.ibex_status_name(st).decode()


def diag():
    d = _lib.Diag()
    lib.ibex_diag_clear(d)
    return d


def check(st, d=None, file=None):
    """Raise Error for a non-OK status; file (when given) names the input, as the command
    does when the library's diag does not."""
    if st == 0:
        return
    if d is None:
        d = diag()
    if file is not None and not d.file:
        d.file = str(file).encode()[:511]
    buf = ctypes.create_string_buffer(2048)
    msg = lib.ibex_diag_format(d, st, buf, len(buf)).decode(errors="replace")
    raise Error(status_name(st), msg)


def fail(status, message):
    """An error found on the Python side (a refused input), named like the library's."""
    raise Error(status, message)
