#!/usr/bin/env python3
"""The case report over plain HTTP (docs/reference/report.md): a search of a synthetic
library run to its end, then GET /api/jobs/ID/report.html and report.pdf with the bearer token
(and with the session cookie): their types, Content-Disposition attachments named from the
job, the HTML self-contained (no script, nothing fetched, the picture as a data: URI) with the
ranked list, the pair compared in the candidate view and the three statements; the PDF's
structure (every xref offset at its object, the page count, the picture as an image object,
qpdf --check when qpdf is installed). Before any pair is compared the report has no picture;
an unknown job is 404, a POST 405."""
import json, os, re, shutil, subprocess, sys, tempfile, time, zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from harness import check, finish
from wb_common import Server, run


def js(body):
    try:
        return json.loads(body)
    except ValueError:
        return {}


def pdf_structure(b):
    """(ok, why, pages, images) of a PDF's classic xref table."""
    if not b.startswith(b"%PDF-"):
        return False, "no %PDF- header", 0, 0
    m = re.search(rb"startxref\s+(\d+)\s+%%EOF\s*$", b[-64:])
    if not m:
        return False, "no startxref/%%EOF at the end", 0, 0
    x = int(m.group(1))
    if b[x:x + 5] != b"xref\n":
        return False, f"startxref {x} is not at the xref table", 0, 0
    m = re.match(rb"xref\n0 (\d+)\n", b[x:])
    n = int(m.group(1))
    rows = b[x + m.end():x + m.end() + 20 * n]
    for i in range(1, n):
        row = rows[20 * i:20 * i + 20]
        off = int(row[:10])
        if not b[off:].startswith(b"%d 0 obj" % i):
            return False, f"object {i}: xref offset {off} points at {b[off:off + 12]!r}", 0, 0
    cnt = re.search(rb"/Type /Pages /Count (\d+)", b)
    pages = int(cnt.group(1)) if cnt else 0
    if len(re.findall(rb"/Type /Page ", b)) != pages:
        return False, "page objects and /Count differ", pages, 0
    images = 0
    for m in re.finditer(rb"/Subtype /Image /Width (\d+) /Height (\d+) .*?/Length (\d+) >>\nstream\n", b):
        w, h, ln = (int(v) for v in m.groups())
        raw = zlib.decompress(b[m.end():m.end() + ln])
        if len(raw) != w * h * 3:
            return False, f"image {w}x{h} inflates to {len(raw)} bytes", pages, images
        images += 1
    return True, "", pages, images


with tempfile.TemporaryDirectory() as tmp:
    lib = os.path.join(tmp, "synth.h5")
    run("synth", "cartridge", "--lib", lib, "--firearms", "2", "--per-firearm", "2", "--size", "96")
    run("index", lib)
    srv = Server(lib, "--tmp", tmp, "--prefetch", "0")  # pairs in the report only once opened

    st, h, b = srv.request("POST", "/api/jobs?row=0&shortlist=3", body=b"", bearer=True)
    job = js(b)
    check("a search of library row 0 starts", st == 202 and "id" in job, (st, b))
    jid = job.get("id", "0" * 32)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        st, h, b = srv.request("GET", f"/api/jobs/{jid}", bearer=True)
        job = js(b)
        if job.get("state") not in ("queued", "running"):
            break
        time.sleep(0.3)
    check("the search finishes", job.get("state") == "done", job)
    cands = job.get("result", {}).get("candidates", [])
    check("it has a ranked list", len(cands) >= 2, cands)

    # --- before any pair is compared: the list, no picture
    st, h, b = srv.request("GET", f"/api/jobs/{jid}/report.html", bearer=True)
    html = b.decode("utf-8", "replace")
    check("report.html: 200 text/html", st == 200 and h.get("content-type", "").startswith("text/html"), (st, h))
    check("no pair compared yet: no picture", "data:image/png" not in html and "No pair was compared" in html)
    for c in cands:
        check(f"the list holds {c.get('id')}", c.get("id") and c["id"] in html)

    # --- one pair compared in the candidate view, then the report
    top = cands[0]["row"] if cands else 0
    st, h, b = srv.request("GET", f"/api/jobs/{jid}/candidates/{top}", bearer=True)
    pair = js(b)
    check("the candidate view compares the top pair", st == 200 and "cells" in pair, (st, b[:300]))

    st, h, b = srv.request("GET", f"/api/jobs/{jid}/report.html?case=C-17%20%3Cscript%3Ealert(1)%3C/script%3E",
                           bearer=True)
    html = b.decode("utf-8", "replace")
    disp = h.get("content-disposition", "")
    check("report.html: 200, text/html, UTF-8", st == 200 and h.get("content-type") == "text/html; charset=utf-8", h)
    check("report.html is an attachment named from the job",
          re.fullmatch(r'attachment; filename="ibex-report-[A-Za-z0-9._-]+-' + jid[:8] + r'\.html"', disp), disp)
    check("never cached", h.get("cache-control") == "no-store", h)
    check("its CSP allows no script", "script-src" not in h.get("content-security-policy", "x")
          and "default-src 'none'" in h.get("content-security-policy", ""), h)
    check("self-contained: no script, no outside reference",
          "<script" not in html.lower() and "http://" not in html and "https://" not in html and "<link" not in html)
    srcs = re.findall(r'src="([^"]{0,30})', html)
    check("one picture, as a data: URI", len(srcs) == 1 and srcs[0].startswith("data:image/png;base64,"), srcs)
    check("the case id escaped", "C-17 &lt;script&gt;alert(1)&lt;/script&gt;" in html, re.findall(r"C-17[^<]{0,60}", html))
    check("the pair's cell table", html.count('<tr class="c') == len(pair.get("cells", [])) > 0,
          (html.count('<tr class="c'), len(pair.get("cells", []))))
    check("the statements: software's scores, examiners' conclusions, threshold a reference",
          "computed by the software" in html and "examiners&#39; own" in html
          and f"(CMC {job['result']['info'].get('reference_cmc', 6)}) is shown as a reference only" in html)
    check("the questioned scan by name", job["query"]["name"] in html)
    check("no conclusions recorded yet", "No conclusion has been recorded" in html)

    st, h, b = srv.request("GET", f"/api/jobs/{jid}/report.pdf", bearer=True)
    disp = h.get("content-disposition", "")
    check("report.pdf: 200 application/pdf", st == 200 and h.get("content-type") == "application/pdf", (st, h))
    check("report.pdf is an attachment named from the job",
          re.fullmatch(r'attachment; filename="ibex-report-[A-Za-z0-9._-]+-' + jid[:8] + r'\.pdf"', disp), disp)
    ok, why, pages, images = pdf_structure(b)
    check("the PDF's xref table points at every object", ok, why)
    check("the PDF has pages and the pair's picture", pages >= 1 and images == 1, (pages, images))
    check("the PDF names the candidate", (cands[0].get("id") or "").encode() in b if cands else False)
    pdf_path = os.path.join(tmp, "report.pdf")
    with open(pdf_path, "wb") as f:
        f.write(b)
    if shutil.which("qpdf"):
        q = subprocess.run(["qpdf", "--check", pdf_path], capture_output=True, text=True)
        check("qpdf --check accepts it", q.returncode == 0, q.stdout[-500:] + q.stderr[-500:])
    if shutil.which("pdfinfo"):
        q = subprocess.run(["pdfinfo", pdf_path], capture_output=True, text=True)
        check("pdfinfo reads it: A4, the page count", q.returncode == 0 and f"Pages:           {pages}" in q.stdout
              and "A4" in q.stdout, q.stdout + q.stderr)

    # --- with the session cookie (what the job page's download links use)
    st, h, b = srv.request("GET", "/?token=" + srv.token)
    cookie = "; ".join(c.split(";")[0] for c in h.get("set-cookie", []))
    st, h, b = srv.request("GET", f"/api/jobs/{jid}/report.pdf", headers={"Cookie": cookie})
    check("report.pdf with the session cookie", st == 200 and b.startswith(b"%PDF-"), st)
    st, h, b = srv.request("GET", f"/api/jobs/{jid}/report.html")
    check("no credential: 401", st == 401, st)

    # --- refusals
    st, h, b = srv.request("GET", "/api/jobs/" + "0" * 32 + "/report.pdf", bearer=True)
    check("an unknown search: 404", st == 404, st)
    st, h, b = srv.request("POST", f"/api/jobs/{jid}/report.html", body=b"", bearer=True)
    check("POST to a report: 405", st == 405, st)
    st, h, b = srv.request("GET", f"/api/jobs/{jid}/report.txt", bearer=True)
    check("another report format: 404", st == 404, st)

    rc = srv.stop()
    check("stops with exit 0", rc == 0, rc)

finish("web_report")
