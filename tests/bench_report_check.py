"""Checks that an `ibex bench accuracy` report folder is complete and well-formed, shared by
the cli test (synthetic scans) and the real-data quick test. Figures are recomputed from
pairs_<kind>.tsv by naive pair counting, independently of IBEX's statistics code."""
import json, os, re, struct, zlib

def png_size(path):
    """Width, height of a PNG after checking its signature, every chunk CRC and that the
    image data inflates to exactly the size the header promises."""
    with open(path, "rb") as f:
        b = f.read()
    assert b[:8] == b"\x89PNG\r\n\x1a\n", f"{path}: not a PNG signature"
    pos, idat, w = 8, b"", None
    while pos < len(b):
        n, = struct.unpack(">I", b[pos:pos + 4])
        typ, body = b[pos + 4:pos + 8], b[pos + 8:pos + 8 + n]
        crc, = struct.unpack(">I", b[pos + 8 + n:pos + 12 + n])
        assert zlib.crc32(typ + body) & 0xffffffff == crc, f"{path}: bad CRC in {typ}"
        if typ == b"IHDR":
            w, h, depth, colour = struct.unpack(">IIBB", body[:10])
            channels = {0: 1, 2: 3, 4: 2, 6: 4}[colour]
        elif typ == b"IDAT":
            idat += body
        elif typ == b"IEND":
            break
        pos += 12 + n
    assert w is not None, f"{path}: no IHDR"
    raw = zlib.decompress(idat)
    assert len(raw) == h * (1 + w * channels * depth // 8), f"{path}: image data size"
    return w, h

def naive_auc(m, n):
    c = sum(1.0 if a > b else 0.5 if a == b else 0.0 for a in m for b in n)
    return c / (len(m) * len(n))

REQUIRED_TOP = ["report", "ibex_version", "git_revision", "generated_utc", "command", "machine",
                "configuration", "auc", "studies"]
REQUIRED_STUDY = ["kind", "sets", "method", "n_scans", "scans_skipped", "n_pairs", "n_match",
                  "n_nonmatch", "n_failed", "match_scores", "nonmatch_scores", "auc", "auc_ci",
                  "error_rates", "eer", "eer_detail", "ranks", "slr", "timing", "files", "scans"]

def check_report(out, expect, stdout_json=None):
    """expect(cond, message) records failures. Returns the parsed report."""
    with open(os.path.join(out, "report.json")) as f:
        rep = json.load(f)
    if stdout_json is not None:
        expect(stdout_json == rep, "--json output equals report.json")
    for k in REQUIRED_TOP:
        expect(k in rep, f"report.json has '{k}'")
    m = rep.get("machine", {})
    expect(isinstance(m.get("cpu_model"), str) and m.get("cpu_model") and
           isinstance(m.get("cores"), int) and m["cores"] >= 1, "machine: CPU model and cores")
    rev = rep.get("git_revision", "")
    expect(rev == "unknown" or re.fullmatch(r"[0-9a-f]{40}(-dirty)?", rev), f"git revision '{rev}'")
    cfg = rep.get("configuration", {})
    for k in ("manifest", "quick", "methods", "bootstrap"):
        expect(k in cfg, f"configuration has '{k}'")
    studies = rep.get("studies", [])
    expect(len(studies) >= 1, "at least one study")
    expect(studies and rep.get("auc") == studies[0].get("auc"), "top-level auc is the first study's")
    md_path = os.path.join(out, "report.md")
    with open(md_path) as f:
        md = f.read()
    for s in studies:
        for k in REQUIRED_STUDY:
            expect(k in s, f"study has '{k}'")
        kind = s.get("kind")
        n, nm, nn = s.get("n_scans", 0), s.get("n_match", 0), s.get("n_nonmatch", 0)
        expect(s.get("n_pairs") == nm + nn and nm > 0 and nn > 0, f"{kind}: pair counts")
        expect(len(s.get("scans", [])) == n, f"{kind}: one entry per scan")
        auc, ci = s.get("auc"), s.get("auc_ci", {})
        expect(isinstance(auc, float) and 0 <= auc <= 1, f"{kind}: auc in [0,1]")
        expect(ci.get("lo") is not None and ci["lo"] <= auc + 1e-12 and auc <= ci["hi"] + 1e-12,
               f"{kind}: AUC inside its bootstrap interval")
        expect(0 <= s.get("eer", -1) <= 1, f"{kind}: eer in [0,1]")
        er = s.get("error_rates", {})
        expect(all(k in er for k in ("threshold", "false_positive_rate", "false_negative_rate")),
               f"{kind}: error rates")
        rk = s.get("ranks", {})
        expect(rk.get("top1") is not None and rk["top1"] <= rk["top5"] <= rk["top10"] <= 1,
               f"{kind}: top-k rates ordered")
        slr = s.get("slr", {})
        expect(all(k in slr for k in ("method", "bandwidth_match", "bandwidth_nonmatch",
                                       "cllr_leave_one_out", "log10_lr_table")), f"{kind}: slr block")
        files = s.get("files", {})
        # An IBEX built without cairo (meson -Dplots=disabled) draws no figures and says so.
        if "figures_not_drawn" in files:
            expect(not any(k in files for k in ("score_histogram", "roc", "rank_curve")) and
                   "figures not drawn" in md, f"{kind}: no figures, and the report says so")
        for key in () if "figures_not_drawn" in files else ("score_histogram", "roc", "rank_curve"):
            p = os.path.join(out, files.get(key, "?"))
            try:
                expect(png_size(p) == (800, 560), f"{p}: 800 x 560")
            except (AssertionError, OSError, KeyError, zlib.error) as e:
                expect(False, f"{p}: valid PNG ({e})")
            expect(f"]({files.get(key)})" in md, f"report.md shows {files.get(key)}")
        # Pairs table: one row per pair, and the figures follow from it.
        try:
            with open(os.path.join(out, files.get("pairs", "?"))) as f:
                rows = [l.rstrip("\n").split("\t") for l in f]
        except OSError:
            rows = [[]]
            expect(False, f"{kind}: pairs table exists")
        head, body = rows[0], rows[1:]
        expect(len(body) == s.get("n_pairs"), f"{kind}: one TSV row per pair")
        if len(body) == s.get("n_pairs") and {"same_source", "score"} <= set(head):
            i_m, i_s = head.index("same_source"), head.index("score")
            sign = 1 if s["method"]["higher_is_match"] else -1
            ms = [sign * float(r[i_s]) for r in body if r[i_m] == "1"]
            ns = [sign * float(r[i_s]) for r in body if r[i_m] == "0"]
            expect(len(ms) == nm and len(ns) == nn, f"{kind}: match counts agree with the TSV")
            # TSV scores are printed to 6 significant digits: ties may appear, so allow 1e-3.
            expect(abs(naive_auc(ms, ns) - auc) < 1e-3,
                   f"{kind}: AUC {auc} vs naive pair count {naive_auc(ms, ns)}")
    # Every Markdown link or image resolves to a file in the folder.
    for target in re.findall(r"\]\(([^)]+)\)", md):
        expect(os.path.isfile(os.path.join(out, target)), f"report.md link {target} resolves")
    return rep
