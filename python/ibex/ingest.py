"""Ingest (ibex/ingest.h): the lists of files to add, from operands and manifests, and the run
that adds them to a library as `ibex ingest` does. Library.ingest and read_manifest use it."""
import ctypes
from ctypes import CFUNCTYPE, POINTER as P, Structure, c_char_p, c_double, c_int, c_size_t, c_uint, \
    c_void_p

from . import _lib
from ._lib import PROGRESS_FN, Diag, lib
from .errors import Error, check, diag, status_name
from .progress import callback
from .surface import _path

STORED, SKIPPED, REFUSED = 0, 1, 2
_OUTCOME = {STORED: "stored", SKIPPED: "skipped", REFUSED: "refused"}
_ITEM_FIELDS = ("path", "id", "kind", "set", "firearm_id", "specimen_id", "same_source_key")


class IngestItem(Structure):
    _fields_ = [(k, c_char_p) for k in _ITEM_FIELDS]


class IngestEvent(Structure):
    _fields_ = [("struct_size", c_size_t), ("outcome", c_int), ("index", c_size_t),
                ("item", P(IngestItem)), ("row", c_size_t), ("sha256", c_char_p),
                ("reason", c_char_p), ("status", c_int), ("diag", P(Diag))]


EVENT_FN = CFUNCTYPE(c_int, c_void_p, P(IngestEvent))


class IngestOpts(Structure):
    _fields_ = [("struct_size", c_size_t), ("kind", c_char_p), ("meta", P(c_char_p)),
                ("n_meta", c_size_t), ("threads", c_uint), ("batch", c_size_t),
                ("read_flags", c_uint), ("progress", PROGRESS_FN), ("progress_user", c_void_p),
                ("event", EVENT_FN), ("event_user", c_void_p)]


class IngestResult(Structure):
    _fields_ = [("struct_size", c_size_t), ("files", c_size_t), ("stored", c_size_t),
                ("skipped", c_size_t), ("refused", c_size_t), ("not_stored", c_size_t),
                ("specimens", c_size_t), ("commits", c_size_t), ("complete", c_int),
                ("threads", c_uint), ("seconds", c_double)]


_protos = {
    "ibex_ingest_list_create": (c_int, [P(c_void_p)]),
    "ibex_ingest_list_free": (None, [c_void_p]),
    "ibex_ingest_list_count": (c_size_t, [c_void_p]),
    "ibex_ingest_list_get": (P(IngestItem), [c_void_p, c_size_t]),
    "ibex_ingest_list_add_operand": (c_int, [c_void_p, c_char_p, P(Diag)]),
    "ibex_ingest_list_read_manifest": (c_int, [c_void_p, c_char_p, c_char_p, P(Diag)]),
    "ibex_ingest_opts_init": (None, [P(IngestOpts)]),
    "ibex_ingest_result_init": (None, [P(IngestResult)]),
    "ibex_ingest_run": (c_int, [c_void_p, c_void_p, P(IngestOpts), P(IngestResult), P(Diag)]),
}
for _name, (_res, _args) in _protos.items():
    _f = getattr(lib, _name)
    _f.restype, _f.argtypes = _res, _args
for _T, _init in ((IngestOpts, lib.ibex_ingest_opts_init),
                  (IngestResult, lib.ibex_ingest_result_init)):
    _lib._check_init(_T, _init, {"struct_size": ctypes.sizeof(_T)})
_lib.MIRRORS.update({"ibex_ingest_item": IngestItem, "ibex_ingest_event": IngestEvent,
                     "ibex_ingest_opts": IngestOpts, "ibex_ingest_result": IngestResult})


def _s(b):
    return b.decode(errors="replace") if b is not None else None


def _message(st, d, file):
    """The refusal as Error would word it: "FILE: problem", the file named when the diag
    does not."""
    try:
        check(st, d, file)
    except Error as e:
        return e.message
    return ""


class FileList:
    """The files an ingest adds, in order: manifest rows and expanded operands."""

    def __init__(self):
        h = c_void_p()
        check(lib.ibex_ingest_list_create(ctypes.byref(h)))
        self._h = h

    def __del__(self, _free=lib.ibex_ingest_list_free):  # bound now: module globals go at exit
        if getattr(self, "_h", None):
            _free(self._h)
            self._h = None

    def add_operand(self, op):
        """A file, or every .x3p/.png below a directory (sorted)."""
        d = diag()
        check(lib.ibex_ingest_list_add_operand(self._h, _path(op), ctypes.byref(d)), d, op)

    def read_manifest(self, path, kind=None):
        d = diag()
        check(lib.ibex_ingest_list_read_manifest(self._h, _path(path),
                                                 kind.encode() if kind else None,
                                                 ctypes.byref(d)), d, path)

    def __len__(self):
        return lib.ibex_ingest_list_count(self._h)

    def items(self):
        """One dict per file: path, id, kind, set, firearm_id, specimen_id, same_source_key."""
        out = []
        for i in range(len(self)):
            it = lib.ibex_ingest_list_get(self._h, i).contents
            out.append({k: _s(getattr(it, k)) for k in _ITEM_FIELDS})
        return out


def run(handle, files, kind=None, meta=None, read_flags=0, stop_on_refusal=False,
        progress=None, threads=0):
    """Adds the FileList's files to the open library handle. Returns (events, result dict,
    the refused event that stopped the run or None); raises Error when the run failed or
    was cancelled by progress (e.events: what was reported before)."""
    events, stopped = [], []
    id_override = (meta or {}).get("id")

    def on_event(user, evp):
        ev = evp.contents
        it = ev.item.contents
        path = _s(it.path)
        e = {"event": _OUTCOME[ev.outcome], "row": None if ev.outcome == REFUSED else ev.row,
             "id": str(id_override) if id_override is not None else _s(it.id), "file": path,
             "sha256": _s(ev.sha256) or None}
        if ev.outcome == SKIPPED:
            e["reason"] = _s(ev.reason)
        elif ev.outcome == REFUSED:
            e["status"] = status_name(ev.status)
            e["reason"] = _message(ev.status, ev.diag.contents, path)
        events.append(e)
        if ev.outcome == REFUSED and stop_on_refusal:
            stopped.append(e)
            return 1
        return 0

    kv = [f"{k}={v}".encode() for k, v in (meta or {}).items()]
    meta_arr = (c_char_p * max(len(kv), 1))(*kv)
    o = IngestOpts()
    lib.ibex_ingest_opts_init(ctypes.byref(o))
    o.kind = kind.encode() if kind else None
    o.meta, o.n_meta = ctypes.cast(meta_arr, P(c_char_p)), len(kv)
    o.threads, o.read_flags = threads, read_flags
    cb = callback(progress)
    o.progress = cb.c
    ev_fn = EVENT_FN(on_event)
    o.event = ev_fn
    r = IngestResult()
    lib.ibex_ingest_result_init(ctypes.byref(r))
    d = diag()
    st = lib.ibex_ingest_run(handle, files._h, ctypes.byref(o), ctypes.byref(r), ctypes.byref(d))
    cb.reraise()
    result = {k: getattr(r, k) for k, _ in IngestResult._fields_ if k != "struct_size"}
    if st != 0 and not (stopped and status_name(st) == "IBEX_ERR_CANCELLED"):
        try:
            check(st, d)
        except Error as e:
            e.events = events
            raise
    return events, result, (stopped[0] if stopped else None)
