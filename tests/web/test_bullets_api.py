#!/usr/bin/env python3
"""The JSON API of the bullet candidate view over plain HTTP (no browser): a library of real
Hamby 44 land scans (bullets 1 and 2 of barrel 1, six lands each, and the one land of unknown
bullet E, barrel 7), 'ibex serve' on a free port, a bearer token.
Checks: a search with library row Bullet 1 Land 1; its bullet-2 candidate answers the 6 x 6
matrix (each compared pair with score, CCF and lag), six best-phase pairs on one cyclic
diagonal, the bullet score, the bullets named by their files, no verdict anywhere; a pair's
signatures (µm, spacing, lag) and both land height maps (IBXH, at most 512 a side); bullet E
is land to bullet (6 x 1); an uploaded land is one land against the candidate's bullet
(1 x 6); bad positions and arguments are 400/404 JSON with a message; the server stops
cleanly. Exit 77 (skipped) without the real scans."""
import json, os, struct, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from harness import check, finish
from wb_common import Server, data_dir, hamby44_library


def get_json(srv, method, path, body=None, headers=None):
    st, hd, data = srv.request(method, path, body=body, headers=headers, bearer=True)
    try:
        return st, json.loads(data)
    except ValueError:
        return st, data


def has_key(o, key):
    if isinstance(o, dict):
        return key in o or any(has_key(v, key) for v in o.values())
    if isinstance(o, list):
        return any(has_key(v, key) for v in o)
    return False


def finished(srv, job):
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        st, j = get_json(srv, "GET", f"/api/jobs/{job}")
        if st != 200 or j["state"] not in ("queued", "running"):
            return j
        time.sleep(0.2)
    return j


with tempfile.TemporaryDirectory() as tmp:
    lib = hamby44_library(tmp)
    if not lib:
        print("SKIP: no real Hamby 44 scans (set IBEX_DATA)")
        sys.exit(77)
    srv = Server(lib, "--tmp", tmp)
    try:
        st, sp = get_json(srv, "GET", "/api/specimens?limit=50")
        rows = {s["id"]: s["row"] for s in sp["specimens"]}
        st, j = get_json(srv, "POST", f"/api/jobs?row={rows['hamby44:Bullet 1 Land 1']}&shortlist=12")
        check("a search of library row Bullet 1 Land 1 starts", st == 202, (st, j))
        job = j["id"]
        j = finished(srv, job)
        check("it finishes", j.get("state") == "done", j)
        cands = {c["id"]: c["row"] for c in j["result"]["candidates"]}
        same = next(r for i, r in cands.items() if i.startswith("hamby44:Bullet 2"))
        base = f"/api/jobs/{job}/candidates/{same}"
        t0 = time.monotonic()
        st, p = get_json(srv, "GET", base)
        print(f"candidate answer (6 x 6 lands): {time.monotonic() - t0:.2f} s")
        check("the candidate answer is JSON", st == 200 and isinstance(p, dict), (st, str(p)[:300]))
        check("its shape", p.get("kind") == "bullet" and p.get("mode") == "bullet" and p["a"]["positions"] == 6
              and p["b"]["positions"] == 6 and p["a"]["scans"] == 6 and len(p["matrix"]) == 6
              and all(len(r) == 6 for r in p["matrix"]) and isinstance(p["best_phase"], int)
              and 0 <= p["bullet_score"] <= 1 and len(p["phases"]) == 6 and p["same_bullet"] is False
              and all({"score", "ccf", "lag_um", "best"} <= set(c) for r in p["matrix"] for c in r)
              and all(l["usable"] and l["signature"]["n"] > 100 and l["heights"]["width"] <= 512
                      for l in p["a"]["lands"] + p["b"]["lands"]),
              {k: p.get(k) for k in ["kind", "mode", "best_phase", "bullet_score"]})
        best = [(i, jj) for i, r in enumerate(p["matrix"]) for jj, c in enumerate(r) if c["best"]]
        check("six best-phase pairs, land i with land i + best_phase", len(best) == 6
              and all(jj == (i + p["best_phase"]) % 6 for i, jj in best), best)
        check("the bullet score is their mean land score", abs(p["bullet_score"] - sum(
            p["matrix"][i][jj]["score"] for i, jj in best) / 6) < 1e-9, p["bullet_score"])
        check("no verdict in the answer", not has_key(p, "verdict") and not has_key(p, "reason"))
        # the case report of a bullet search: its ranked list (bullet pairs are not drawn in it yet)
        for ext, kind in (("html", "text/html"), ("pdf", "application/pdf")):
            st, hd, body = srv.request("GET", f"/api/jobs/{job}/report.{ext}", bearer=True)
            check(f"the report of a bullet search ({ext})", st == 200 and hd.get("content-type", "").startswith(kind)
                  and (b"Bullet 2" in body if ext == "html" else body.startswith(b"%PDF-")), (st, body[:200]))
        check("bullets named by their lands' files", p["questioned"]["bullet"] == "Barrel_1-Bullet_1"
              and p["candidate"]["bullet"] == "Barrel_1-Bullet_2", (p["questioned"], p["candidate"]))
        a, b = best[0]
        st, t = get_json(srv, "GET", f"{base}/signatures?a={a}&b={b}")
        check("signatures of a pair", st == 200 and len(t["a"]["values_um"]) == t["a"]["n"] > 100
              and len(t["b"]["values_um"]) == t["b"]["n"] > 100 and t["a"]["spacing_um"] == 2
              and t["lag_um"] == t["lag"] * 2 and t["best"] is True and t["score"] == p["matrix"][a][b]["score"]
              and max(abs(v) for v in t["a"]["values_um"] if v is not None) < 50, (st, str(t)[:300]))
        for side, land in [("q", a), ("c", b)]:
            st, hd, data = srv.request("GET", f"{base}/heights?side={side}&land={land}", bearer=True)
            ok = st == 200 and data[:4] == b"IBXH" and hd.get("content-type") == "application/octet-stream"
            w, h = struct.unpack("<II", data[8:16]) if ok else (0, 0)
            check(f"heights of land {land} ({side})", ok and 0 < w <= 512 and 0 < h <= 512 and len(data) == 24 + 4 * w * h,
                  (st, data[:60]))
        for path, want in [(f"{base}/signatures?a=6&b=0", 400), (f"{base}/signatures?a=x", 400),
                           (f"{base}/signatures", 400), (f"{base}/heights?side=q", 400),
                           (f"{base}/heights?side=q&land=-1", 400), (f"{base}/heights?side=c&land=99999999", 400),
                           (f"{base}/heights?side=z&land=0", 400), (f"{base}/nothing", 404),
                           (f"/api/jobs/{job}/candidates/999", 404)]:
            st, e = get_json(srv, "GET", path)
            check(f"{path.split('/')[-1]} answers {want} with a message", st == want and isinstance(e, dict)
                  and e.get("error"), (st, e))
        st, q = get_json(srv, "GET", f"/api/jobs/{job}/candidates/{cands['hamby44:Unknown E Land 1']}")
        check("unknown bullet E (one land): land to bullet, 6 x 1", st == 200 and q["mode"] == "land-to-bullet"
              and len(q["matrix"]) == 6 and all(len(r) == 1 for r in q["matrix"]) and q["best_land"]
              and q["bullet_score"] is None and sum(r[0]["best"] for r in q["matrix"]) == 1, (st, str(q)[:300]))

        # an uploaded land: one land against the candidate's bullet
        scan = os.path.join(data_dir(), "bullet", "hamby44", "Barrel_1-Bullet_2-Land_3.x3p")
        st, j = get_json(srv, "POST", "/api/jobs?name=Barrel_1-Bullet_2-Land_3.x3p&shortlist=4&exclude_same=1",
                         body=open(scan, "rb").read(), headers={"Content-Type": "application/octet-stream"})
        check("an uploaded land is searched", st == 202, (st, j))
        j = finished(srv, j["id"])
        top = j["result"]["candidates"][0]
        st, u = get_json(srv, "GET", f"/api/jobs/{j['id']}/candidates/{top['row']}")
        check("the upload against the top candidate's bullet: 1 x 6", st == 200 and u["mode"] == "land-to-bullet"
              and u["questioned"]["source"] == "upload" and u["a"]["positions"] == 1 and len(u["matrix"]) == 1
              and len(u["matrix"][0]) == 6 and u["a"]["lands"][0]["row"] is None, (st, str(u)[:400]))
        st, hd, data = srv.request("GET", f"/api/jobs/{j['id']}/candidates/{top['row']}/heights?side=q&land=0", bearer=True)
        check("the uploaded land's height map", st == 200 and data[:4] == b"IBXH", st)
    finally:
        rc = srv.stop()
    check("ibex serve stops with exit 0", rc == 0, rc)

finish("web_bullets_api")
