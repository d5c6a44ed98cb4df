#!/usr/bin/env python3
"""The workbench's security rules over plain HTTP (docs/reference/workbench.md, "Security"):
no token 401, a wrong one 403; ?token= traded for a session cookie; a cookie-authenticated
POST without the right CSRF header, or from another origin, 403; a Host that is not the
loopback address 403; traversal paths 404; an upload over the cap 413 (announced or
streamed); a malformed X3P refused with the reader's message; the token never in the log.
A synthetic library, so no data set is needed."""
import io, json, os, re, sys, tempfile, zipfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from harness import check, finish
from wb_common import Server, run


def js(body):
    try:
        return json.loads(body)
    except ValueError:
        return {}


with tempfile.TemporaryDirectory() as tmp:
    lib = os.path.join(tmp, "synth.h5")
    run("synth", "cartridge", "--lib", lib, "--firearms", "2", "--per-firearm", "2", "--size", "96")
    log = os.path.join(tmp, "serve.log")
    srv = Server(lib, "--max-upload", "1", "--tmp", tmp, log=log)
    check("prints the bound URL", srv.printed.startswith(f"listening on http://127.0.0.1:{srv.port}"), srv.printed)

    # --- no credential, wrong credential
    for path in ["/", "/app.js", "/api/session", "/api/specimens", "/api/specimens/0/thumbnail.png"]:
        st, h, b = srv.request("GET", path)
        check(f"no token: GET {path} is 401", st == 401, st)
    st, h, b = srv.request("POST", "/api/jobs", body=b"x")
    check("no token: POST is 401", st == 401, st)
    st, h, b = srv.request("GET", "/?token=" + "0" * 64)
    check("wrong token in the address: 403", st == 403 and "set-cookie" not in h, st)
    st, h, b = srv.request("GET", "/api/session", headers={"Authorization": "Bearer " + "f" * 64})
    check("wrong bearer token: 403", st == 403, st)
    st, h, b = srv.request("GET", "/api/session", headers={"Cookie": f"ibex_wb_session_{srv.port}=" + "a" * 64})
    check("unknown session cookie: 401", st == 401 and "unknown" in js(b).get("error", ""), (st, b))
    st, h, b = srv.request("GET", "/api/session", bearer=True, host=f"evil.example:{srv.port}")
    check("a Host that is not the loopback address: 403 even with the token", st == 403, (st, b))
    st, h, b = srv.request("GET", "/api/session", bearer=True, host="127.0.0.1:1")
    check("another port in Host: 403", st == 403, st)

    # --- the token traded for a session
    st, h, b = srv.request("GET", "/?token=" + srv.token)
    cookies = h.get("set-cookie", [])
    check("token in the address: 303 to /", st == 303 and h.get("location") == "/", (st, h))
    sess = [c for c in cookies if c.startswith(f"ibex_wb_session_{srv.port}=")]
    csrfc = [c for c in cookies if c.startswith(f"ibex_wb_csrf_{srv.port}=")]
    check("session cookie HttpOnly and SameSite=Strict", sess and "HttpOnly" in sess[0] and "SameSite=Strict" in sess[0],
          cookies)
    check("CSRF cookie SameSite=Strict, readable", csrfc and "SameSite=Strict" in csrfc[0] and "HttpOnly" not in csrfc[0],
          cookies)
    cookie = "; ".join(c.split(";")[0] for c in cookies)
    st, h, b = srv.request("GET", "/api/session", headers={"Cookie": cookie})
    csrf = js(b).get("csrf", "")
    check("the session reads its CSRF token", st == 200 and re.fullmatch(r"[0-9a-f]{64}", csrf or ""), (st, b))
    check("the CSRF cookie is the session's token", csrfc and csrfc[0].split(";")[0].split("=", 1)[1] == csrf)
    st, h, b = srv.request("GET", "/", headers={"Cookie": cookie})
    check("the page with the cookie: 200, no token needed", st == 200 and b"<title>IBEX workbench" in b, st)
    for k in ["content-security-policy", "x-content-type-options", "x-frame-options", "referrer-policy"]:
        check(f"header {k} on the page", k in h, h)
    check("CSP allows this origin only", "default-src 'none'" in h.get("content-security-policy", "")
          and "script-src 'self'" in h.get("content-security-policy", ""), h)
    st, h, b = srv.request("GET", "/api/specimens", headers={"Cookie": cookie})
    check("API answers are never cached", st == 200 and h.get("cache-control") == "no-store", h)

    # --- CSRF on every state-changing request
    bad = b"this is not a scan"
    st, h, b = srv.request("POST", "/api/jobs?name=x.x3p", body=bad, headers={"Cookie": cookie})
    check("POST with the cookie but no CSRF header: 403", st == 403 and "CSRF" in js(b).get("error", ""), (st, b))
    st, h, b = srv.request("POST", "/api/jobs?name=x.x3p", body=bad, headers={"Cookie": cookie, "X-Ibex-CSRF": "0" * 64})
    check("POST with a wrong CSRF token: 403", st == 403 and "CSRF" in js(b).get("error", ""), (st, b))
    st, h, b = srv.request("POST", "/api/jobs/" + "0" * 32 + "/cancel", headers={"Cookie": cookie, "X-Ibex-CSRF": csrf[:-1] + ("1" if csrf[-1] == "0" else "0")})
    check("cancel with a wrong CSRF token: 403", st == 403, st)
    st, h, b = srv.request("POST", "/api/jobs?name=x.x3p", body=bad,
                           headers={"Cookie": cookie, "X-Ibex-CSRF": csrf, "Origin": "http://evil.example"})
    check("POST from another origin: 403", st == 403 and "origin" in js(b).get("error", ""), (st, b))
    st, h, b = srv.request("POST", f"/api/jobs?token={srv.token}", body=bad)
    check("POST with the token in the address: 403", st == 403, st)
    st, h, b = srv.request("POST", "/api/jobs?name=x.x3p", body=bad,
                           headers={"Cookie": cookie, "X-Ibex-CSRF": csrf, "Origin": srv.base})
    check("POST with the right CSRF token and origin reaches the reader", st == 400
          and "x.x3p: not an X3P file" in js(b).get("error", ""), (st, b))
    st, h, b = srv.request("PUT", "/api/jobs", body=bad, bearer=True)
    check("PUT: 405", st == 405, st)

    # --- paths never name files
    for path in ["/../../../../etc/passwd", "/%2e%2e/%2e%2e/%2e%2e/etc/passwd", "/..%2f..%2f..%2fetc%2fpasswd",
                 "/etc/passwd", "//etc/passwd", "/app.js/../../../../etc/passwd", "/api/specimens/../../../etc/passwd",
                 "/api/specimens/0/../../../../../etc/passwd", "/api/specimens/0/thumbnail.png/../../../etc/passwd",
                 "/api/jobs/../../etc/passwd", "/assets/app.js", "/workbench/assets/app.js", "/index.html%00.png",
                 "/%2fetc%2fpasswd", "/api/../app.js", "/" + "../" * 40 + "etc/passwd"]:
        st, h, b = srv.request("GET", path, bearer=True)
        check(f"GET {path}: 404", st == 404 and b"root:" not in b, (st, b[:200]))
    st, h, b = srv.request("GET", "/" + "a" * 3000, bearer=True)
    check("overlong target: 414", st == 414, st)

    # --- uploads capped (--max-upload 1 MiB)
    big = b"PK\3\4" + b"\0" * (1 << 20)
    st, h, b = srv.request("POST", "/api/jobs?name=big.x3p", body=big, bearer=True)
    check("upload over the cap (Content-Length): 413", st == 413 and "limit" in js(b).get("error", ""), (st, b))
    chunked = b"".join(b"%x\r\n" % len(big[i:i + 65536]) + big[i:i + 65536] + b"\r\n"
                       for i in range(0, len(big), 65536)) + b"0\r\n\r\n"
    st, h, b = srv.request("POST", "/api/jobs?name=big.x3p", body=chunked, bearer=True,
                           headers={"Transfer-Encoding": "chunked"})
    check("upload over the cap (chunked): 413", st == 413, (st, b))
    form_big = (b"--ibexTestBoundary\r\nContent-Disposition: form-data; name=\"scan\"; filename=\"big.x3p\"\r\n"
                b"Content-Type: application/octet-stream\r\n\r\n" + big + b"\r\n--ibexTestBoundary--\r\n")
    st, h, b = srv.request("POST", "/api/jobs", body=form_big, bearer=True,
                           headers={"Content-Type": "multipart/form-data; boundary=ibexTestBoundary"})
    check("form upload over the cap: 413", st == 413, (st, b))

    # --- malformed scans: the reader's own message, naming the file and the problem
    z = io.BytesIO()
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("readme.txt", "no main.xml here")
    st, h, b = srv.request("POST", "/api/jobs?name=nomain.x3p", body=z.getvalue(), bearer=True)
    e = js(b)
    check("X3P without main.xml: 400 naming the file and main.xml", st == 400 and e.get("error", "").startswith("nomain.x3p:")
          and "main.xml" in e.get("error", "") and e.get("code") == "IBEX_ERR_FORMAT", (st, b))
    run("synth", "cartridge", "--out", os.path.join(tmp, "s"), "--firearms", "1", "--per-firearm", "1", "--size", "64")
    x3p = [os.path.join(dp, f) for dp, _, fs in os.walk(os.path.join(tmp, "s")) for f in fs if f.endswith(".x3p")][0]
    data = open(x3p, "rb").read()
    st, h, b = srv.request("POST", "/api/jobs?name=cut.x3p", body=data[: len(data) // 2], bearer=True)
    check("truncated X3P: 400 with the reader's message", st == 400 and js(b).get("error", "").startswith("cut.x3p:"), (st, b))
    form = (b"--ibexTestBoundary\r\nContent-Disposition: form-data; name=\"shortlist\"\r\n\r\n2\r\n"
            b"--ibexTestBoundary\r\nContent-Disposition: form-data; name=\"scan\"; filename=\"../../etc/nomain.x3p\"\r\n"
            b"Content-Type: application/octet-stream\r\n\r\n" + z.getvalue() + b"\r\n--ibexTestBoundary--\r\n")
    st, h, b = srv.request("POST", "/api/jobs", body=form, bearer=True, headers={"Content-Type": "multipart/form-data; boundary=ibexTestBoundary"})
    check("multipart upload: the reader's message, the file's base name only",
          st == 400 and js(b).get("error", "").startswith("nomain.x3p:"), (st, b))
    st, h, b = srv.request("POST", "/api/jobs?name=empty.png", body=b"", bearer=True)
    check("empty upload: 400", st == 400 and "empty" in js(b).get("error", ""), (st, b))
    st, h, b = srv.request("POST", "/api/jobs?name=bad.png", body=b"\x89PNG\r\n\x1a\n" + b"\0" * 40, bearer=True)
    check("broken PNG: 400 naming the upload, not the temporary file", st == 400
          and js(b).get("error", "").startswith("bad.png:") and tmp not in js(b).get("error", ""), (st, b))
    st, h, b = srv.request("POST", "/api/jobs?name=x.x3p&shortlist=100000", body=data, bearer=True)
    check("shortlist over the limit: 400", st == 400, (st, b))
    check("nothing left in the private temporary folder",
          all(not os.listdir(os.path.join(tmp, d)) for d in os.listdir(tmp) if d.startswith("ibex-serve-")))
    rc = srv.stop()
    check("stops on SIGTERM with exit 0", rc == 0, rc)
    check("the private temporary folder is removed", not [d for d in os.listdir(tmp) if d.startswith("ibex-serve-")])
    text = open(log).read()
    check("the request log never holds the token", srv.token not in text and "token=" not in text, text[-800:])
    check("the request log has a line per request", text.count(" 401 ") >= 5 and text.count(" 404 ") >= 10, text[-500:])

finish("web_security")
