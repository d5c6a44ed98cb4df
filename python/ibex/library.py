"""The reference library (ibex/library.h): an HDF5 file of specimens, ingested by the
library's ingest run (ibex/ingest.h), the one `ibex ingest` uses.

Library.index() and Library.query(scans, progress=fn) are `ibex index` and `ibex query`
(ibex/search.h), with fn(stage, done, total, eta_seconds) returning True to cancel."""
import ctypes
import hashlib
import os

from . import _lib
from ._lib import lib
from .errors import Error, check, diag
from . import ingest as _ingest
from .surface import READ_NO_VERIFY, Surface, _path, read

LIBRARY_WRITE, LIBRARY_NOSYNC, LIBRARY_PACKED = 0x1, 0x2, 0x4
# What `ibex ingest` records (and checks on open): libraries made here take more scans
# from the command and the other way round.
INGEST_PARAMS = "preprocess=none\n"  # IBEX_INGEST_PARAMS
_SPEC_STR = ("id", "kind", "region", "source_path", "set", "firearm_id", "same_source_key")


def _b(s):
    return None if s is None else str(s).encode()


def file_sha256(path):
    """SHA-256 of a file as 64 lower-case hex digits (ibex_file_sha256)."""
    h = ctypes.create_string_buffer(65)
    d = diag()
    check(lib.ibex_file_sha256(_path(path), h, ctypes.byref(d)), d, path)
    return h.value.decode()


def scan_files(operand):
    """A file, or every .x3p/.png below a directory (sorted), as `ibex ingest` expands it
    (ibex_ingest_list_add_operand; Error when it does not exist)."""
    fl = _ingest.FileList()
    fl.add_operand(str(operand))
    return [it["path"] for it in fl.items()]


def read_manifest(path, kind=None):
    """Rows of a MANIFEST.tsv that name scans (ibex_ingest_list_read_manifest): dicts with
    path (resolved against the manifest's folder), id (SET:SPECIMEN_ID as ibex ingest makes
    it), kind, set, firearm_id, specimen_id, same_source_key (None when empty)."""
    fl = _ingest.FileList()
    fl.read_manifest(str(path), kind)
    return fl.items()


def _scan_kind(s):
    k = s.meta.get("specimen_kind")
    if k in ("cartridge", "bullet"):
        return k
    return "bullet" if s.nx >= 2 * s.ny or s.ny >= 2 * s.nx else "cartridge"


def _specimen_dict(sp, row):
    out = {"row": row}
    for k in _SPEC_STR:
        v = getattr(sp, k)
        out[k] = v.decode(errors="replace") if v is not None else None
    out["sha256"] = sp.sha256.decode()
    out["ingest_time"] = sp.ingest_time
    out["meta"] = {k: getattr(sp.meta, k).decode(errors="replace") for k in _lib.META_KEYS
                   if getattr(sp.meta, k) is not None}
    for k in ("nx", "ny", "dx", "dy", "n_valid"):
        out[k] = getattr(sp, k)
    return out


class Library:
    """Library(path, mode="r"): "r" read; "w" open for adding, created when missing (as
    ibex ingest does); "x" create, refusing an existing file. params: the preprocessing
    parameter text stored at creation and checked on open (default for "w"/"x": the
    command's, so `ibex ingest` can add to it). packed: schema 2 (create only);
    sync=False: no fsync."""

    def __init__(self, path, mode="r", params=None, packed=False, sync=True):
        if mode not in ("r", "w", "x"):
            raise ValueError("mode is 'r', 'w' or 'x'")
        self.path = str(path)
        o = _lib.LibraryOpts()
        lib.ibex_library_opts_init(ctypes.byref(o))
        o.flags = (LIBRARY_WRITE if mode != "r" else 0) | (0 if sync else LIBRARY_NOSYNC)
        if params is None and mode != "r":
            params = INGEST_PARAMS
        self._params = _b(params)
        o.params = self._params
        h = ctypes.c_void_p()
        d = diag()
        if mode == "x" or (mode == "w" and not os.path.exists(self.path)):
            o.flags |= LIBRARY_PACKED if packed else 0
            st = lib.ibex_library_create(_path(path), ctypes.byref(o), ctypes.byref(h),
                                         ctypes.byref(d))
        else:
            st = lib.ibex_library_open(_path(path), ctypes.byref(o), ctypes.byref(h),
                                       ctypes.byref(d))
        check(st, d, path)
        self._h = h
        self.writable = mode != "r"

    def close(self):
        if self._h:
            h, self._h = self._h, None
            d = diag()
            check(lib.ibex_library_close(h, ctypes.byref(d)), d)

    def __del__(self, _free=lib.ibex_library_close):  # bound now: module globals go at exit
        if getattr(self, "_h", None):
            _free(self._h, None)
            self._h = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _handle(self):
        if not self._h:
            raise ValueError("library is closed")
        return self._h

    def index(self, refit=False, progress=None):
        """Stage-1 index of the specimens not indexed yet (the library must be writable):
        a dict of what was done (ibex_library_index_update)."""
        from .search import index_update
        return index_update(self._handle(), refit=refit, progress=progress)

    def query(self, scans, shortlist=0, top=None, progress=None, **opts):
        """Ranks this library's specimens against each scan (paths or Surfaces): stage 1 on
        the index, then CMC (cartridges) or land comparison (bullets) on the shortlist.
        Returns (one list of candidate dicts per scan, best first, cut to `top` when given;
        the batch summary). opts: threads, stage1_only, exclude_self, kind, prealign, within,
        exact_top (two-step stage 2: 0 = 10, "all" = CMC for the whole shortlist)."""
        from .search import search
        surfaces, names = [], []
        for x in scans:
            surfaces.append(x if isinstance(x, Surface) else read(x))
            names.append(str(x) if not isinstance(x, Surface) else "query")
        ranked, info = search(self._handle(), surfaces, names, shortlist=shortlist,
                              progress=progress, **opts)
        if top is not None:
            ranked = [r[:top] for r in ranked]
        return ranked, info

    def __len__(self):
        return lib.ibex_library_count(self._handle())

    @property
    def params(self):
        p = lib.ibex_library_params(self._handle())
        return p.decode() if p is not None else None

    # -- reading
    def specimen(self, row):
        """One specimen's table row as a dict (id, kind, region, source_path, set,
        firearm_id, same_source_key, sha256, ingest_time, meta, nx, ny, dx, dy, n_valid)."""
        sp = _lib.out_struct(_lib.Specimen)
        d = diag()
        check(lib.ibex_library_get_info(self._handle(), row, ctypes.byref(sp),
                                        ctypes.byref(d)), d)
        _lib.check_guard(sp, "ibex_library_get_info")
        try:
            return _specimen_dict(sp, row)
        finally:
            lib.ibex_specimen_clear(ctypes.byref(sp))

    def specimens(self):
        return [self.specimen(i) for i in range(len(self))]

    def surface(self, row):
        p = ctypes.POINTER(_lib.Surface)()
        d = diag()
        check(lib.ibex_library_get_surface(self._handle(), row, ctypes.byref(p),
                                           ctypes.byref(d)), d)
        return Surface._wrap(p)

    def find_id(self, id):
        row = ctypes.c_size_t()
        return row.value if lib.ibex_library_find_id(self._handle(), _b(id),
                                                     ctypes.byref(row)) else None

    def find_hash(self, sha256):
        row = ctypes.c_size_t()
        return row.value if lib.ibex_library_find_hash(self._handle(), _b(sha256),
                                                       ctypes.byref(row)) else None

    # -- adding
    def begin(self):
        d = diag()
        check(lib.ibex_library_begin(self._handle(), ctypes.byref(d)), d)

    def commit(self):
        d = diag()
        check(lib.ibex_library_commit(self._handle(), ctypes.byref(d)), d)

    def prepare(self, surface):
        """The surface as the library stores it (its preprocessing hook, or a copy)."""
        p = ctypes.POINTER(_lib.Surface)()
        d = diag()
        check(lib.ibex_library_prepare(self._handle(), surface, ctypes.byref(p),
                                       ctypes.byref(d)), d)
        return Surface._wrap(p)

    def add(self, surface, id, kind=None, region=None, source_path=None, sha256=None,
            set=None, firearm_id=None, same_source_key=None, meta=None):
        """Append one specimen; returns its row. Metadata: the surface's, then meta.
        kind: given, else the surface's specimen_kind, else from its shape; region: given,
        else the surface's, else breech-face / land. sha256: of the source file when
        source_path names one, else of the heights' bytes."""
        if sha256 is None:
            if source_path and os.path.isfile(source_path):
                sha256 = file_sha256(source_path)
            else:
                sha256 = hashlib.sha256(surface.heights.tobytes()).hexdigest()
        sp = _lib.Specimen()
        check(lib.ibex_meta_copy(ctypes.byref(sp.meta), ctypes.byref(surface._ptr.contents.meta)))
        try:
            for k, v in (meta or {}).items():
                check(lib.ibex_meta_set(ctypes.byref(sp.meta), _b(k), _b(v)))
            kind = kind or (sp.meta.specimen_kind or b"").decode() or _scan_kind(surface)
            lib.ibex_meta_set(ctypes.byref(sp.meta), b"specimen_kind", _b(kind))
            if region is None:
                region = (sp.meta.region.decode() if sp.meta.region else
                          {"cartridge": "breech-face", "bullet": "land"}.get(kind, ""))
            keep = [_b(x) for x in (id, kind, region, source_path, set, firearm_id,
                                    same_source_key)]
            for k, v in zip(_SPEC_STR, keep):
                setattr(sp, k, v)
            sp.sha256 = _b(sha256)
            row = ctypes.c_size_t()
            d = diag()
            check(lib.ibex_library_add(self._handle(), ctypes.byref(sp), surface,
                                       ctypes.byref(row), ctypes.byref(d)), d, source_path)
            return row.value
        finally:
            lib.ibex_meta_clear(ctypes.byref(sp.meta))

    def ingest(self, files=(), manifest=None, kind=None, meta=None, skip_errors=False,
               verify=True, progress=None, threads=0):
        """Add scans as `ibex ingest` does (ibex_ingest_run): files and directories (every
        .x3p/.png below), and/or the scans of a MANIFEST.tsv (with its ground-truth columns;
        kind keeps only rows of that kind). Duplicates (same SHA-256) are skipped. meta:
        metadata for every file (also set, firearm_id, same_source_key, id, kind). Commits
        every 16 specimens. Returns one dict per file: event "stored" / "skipped" /
        "refused", row, id, file, sha256. A file that cannot be read, or whose row the
        library refuses (a duplicate id), raises Error (after committing what was added
        before it; e.events lists those) unless skip_errors, which reports it as refused.
        A failed write raises, with nothing of its batch stored. progress: fn(stage, done,
        total, eta_seconds), True cancels."""
        if isinstance(files, (str, os.PathLike)):
            files = [files]
        fl = _ingest.FileList()
        if manifest:
            fl.read_manifest(str(manifest), kind)
        for op in files:
            fl.add_operand(str(op))
        events, _, stop = _ingest.run(self._handle(), fl, kind=kind, meta=meta,
                                      read_flags=0 if verify else READ_NO_VERIFY,
                                      stop_on_refusal=not skip_errors, progress=progress,
                                      threads=threads)
        if stop is not None:
            e = Error(stop["status"], stop["reason"])
            e.events = [x for x in events if x is not stop]
            raise e
        return events
