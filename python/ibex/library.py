"""The reference library (ibex/library.h): an HDF5 file of specimens, ingested the way
`ibex ingest` does it (cli/cmd_ingest.c).

Library.index() and Library.query(scans, progress=fn) are `ibex index` and `ibex query`
(ibex/search.h), with fn(stage, done, total, eta_seconds) returning True to cancel."""
import ctypes
import hashlib
import os

from . import _lib
from ._lib import lib
from .errors import Error, check, diag
from .surface import Surface, _path, read

LIBRARY_WRITE, LIBRARY_NOSYNC, LIBRARY_PACKED = 0x1, 0x2, 0x4
# What `ibex ingest` records (and checks on open): libraries made here take more scans
# from the command and the other way round.
INGEST_PARAMS = "preprocess=none\n"
BATCH_MAX = 16
_SPEC_STR = ("id", "kind", "region", "source_path", "set", "firearm_id", "same_source_key")
_EXTRA_KEYS = ("set", "firearm_id", "same_source_key", "id", "kind")


def _b(s):
    return None if s is None else str(s).encode()


def file_sha256(path):
    """SHA-256 of a file as 64 lower-case hex digits (ibex_file_sha256)."""
    h = ctypes.create_string_buffer(65)
    d = diag()
    check(lib.ibex_file_sha256(_path(path), h, ctypes.byref(d)), d, path)
    return h.value.decode()


def scan_files(operand):
    """A file, or every .x3p/.png below a directory (sorted), as `ibex ingest` expands it."""
    if not os.path.isdir(operand):
        return [str(operand)]
    out = []

    def walk(d, depth):
        if depth > 32:
            return
        for e in os.listdir(d):
            if e.startswith(".") or e == "__MACOSX":
                continue
            p = os.path.join(d, e)
            if os.path.isdir(p):
                walk(p, depth + 1)
            elif len(e) > 4 and e[-4:].lower() in (".x3p", ".png"):
                out.append(p)
    walk(str(operand), 0)
    return sorted(out)


def read_manifest(path, kind=None):
    """Rows of a MANIFEST.tsv that name scans: dicts with path (resolved against the
    manifest's folder), id (SET:SPECIMEN_ID as ibex ingest makes it), kind, set, firearm_id,
    specimen_id, same_source_key (None when empty)."""
    base = os.path.dirname(str(path))
    rows = []
    with open(path, newline="") as f:
        header = f.readline().rstrip("\r\n").split("\t")
        if "relative_path" not in header:
            raise Error("IBEX_ERR_FORMAT", f"{path}: line 1: no relative_path column "
                                           "(not a manifest)")
        for line in f:
            fields = line.rstrip("\r\n").split("\t")
            if not line.strip():
                continue
            row = {k: (fields[i] if i < len(fields) and fields[i] else None)
                   for i, k in enumerate(header)}
            rel = row.get("relative_path") or ""
            if not (len(rel) > 4 and rel[-4:].lower() in (".x3p", ".png")):
                continue
            if kind and row.get("kind") != kind:
                continue
            item = {k: row.get(k) for k in ("kind", "set", "firearm_id", "specimen_id",
                                            "same_source_key")}
            item["path"] = rel if rel.startswith("/") else os.path.join(base, rel)
            if item["specimen_id"]:
                item["id"] = (f"{item['set']}:" if item["set"] else "") + item["specimen_id"]
            else:
                item["id"] = os.path.splitext(rel)[0]
            rows.append(item)
    return rows


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
        the batch summary). opts: threads, stage1_only, exclude_self, kind, prealign, within."""
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
               verify=True):
        """Add scans as `ibex ingest` does: files and directories (every .x3p/.png below),
        and/or the scans of a MANIFEST.tsv (with its ground-truth columns; kind keeps only
        rows of that kind). Duplicates (same SHA-256) are skipped. meta: metadata for every
        file (also set, firearm_id, same_source_key, id, kind). Commits every 16 specimens.
        Returns one dict per file: event "stored" / "skipped" / "refused", row, id, file,
        sha256. A file that cannot be read raises Error (after committing what was added
        before it; e.events lists those) unless skip_errors, which reports it as refused, as
        it does a duplicate id. A failed write raises, with nothing of its batch stored."""
        if isinstance(files, (str, os.PathLike)):
            files = [files]
        items = read_manifest(manifest, kind) if manifest else []
        for op in files:
            op = str(op)
            if not os.path.exists(op):
                raise Error("IBEX_ERR_IO", f"{op}: No such file or directory")
            isdir = os.path.isdir(op)
            for f in scan_files(op):
                rel = os.path.relpath(f, op) if isdir else os.path.basename(f)
                items.append({"path": f, "id": os.path.splitext(rel)[0]})
        meta = dict(meta or {})
        extra = {k: meta.pop(k) for k in _EXTRA_KEYS if k in meta}
        events, pending = [], []
        for it in items:
            ev = {"event": None, "row": None, "id": extra.get("id", it["id"]),
                  "file": it["path"], "sha256": None}
            try:
                ev["sha256"] = file_sha256(it["path"])
                dup = self.find_hash(ev["sha256"])
                if dup is not None:
                    ev.update(event="skipped", row=dup, reason=f"duplicate of row {dup}")
                    events.append(ev)
                    continue
                surf = self.prepare(read(it["path"], verify=verify))
            except Error as e:          # this file only: nothing was written
                if not skip_errors:
                    if pending:             # what was added so far is kept
                        self.commit()
                    e.events = events + pending
                    raise
                ev.update(event="refused", reason=e.message, status=e.status)
                events.append(ev)
                continue
            if not pending:
                self.begin()
            m = dict(meta)
            if it.get("specimen_id"):
                m.setdefault("specimen_id", it["specimen_id"])
            try:
                row = self.add(surf, ev["id"], kind=kind or extra.get("kind") or it.get("kind"),
                               source_path=it["path"], sha256=ev["sha256"],
                               set=extra.get("set", it.get("set")),
                               firearm_id=extra.get("firearm_id", it.get("firearm_id")),
                               same_source_key=extra.get("same_source_key",
                                                         it.get("same_source_key")),
                               meta=m)
            except Error as e:
                # A duplicate id or a bad row is refused before anything is written;
                # any other failure rolled the whole transaction back.
                if not skip_errors or e.status not in ("IBEX_ERR_INTEGRITY", "IBEX_ERR_ARG"):
                    raise
                ev.update(event="refused", reason=e.message, status=e.status)
                events.append(ev)
                continue
            ev.update(event="stored", row=row)
            pending.append(ev)
            if len(pending) == BATCH_MAX:
                self.commit()
                events += pending
                pending = []
        if pending:
            self.commit()
            events += pending
            pending = []
        return events
