"""Progress callbacks (ibex/progress.h) for long library calls: a Python callable
fn(stage, done, total, eta_seconds) returning True to cancel (the call then fails with
IBEX_ERR_CANCELLED). An exception in fn cancels too, and is raised again by reraise()."""
from ._lib import PROGRESS_FN


class callback:
    """callback(fn): .c is the C function pointer to pass (NULL when fn is None); keep this
    object alive for the duration of the call."""

    def __init__(self, fn):
        self.fn, self.error = fn, None
        self.c = PROGRESS_FN(self._call) if fn else PROGRESS_FN()

    def _call(self, user, stage, done, total, eta):
        try:
            return 1 if self.fn(stage.decode() if stage else "", done, total,
                                None if eta < 0 else eta) else 0
        except BaseException as e:  # noqa: B902 - carried back to the caller's thread
            self.error = e
            return 1

    def reraise(self):
        if self.error is not None:
            raise self.error
