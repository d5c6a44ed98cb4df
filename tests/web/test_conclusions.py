#!/usr/bin/env python3
"""Conclusions and blind verification in the workbench, with accounts: 'ibex serve --accounts'
on a library of three real Fadul casings (1-1, 1-2 of slide 1; 2-1 of slide 2).

Over plain HTTP: the sign-in rules (the page and /api/session open, everything else 401;
POST /api/login only from this origin, as JSON; a wrong password 401 after a second; the token
reads only); the roles (a verifier may not record a conclusion, read-only nothing).
In headless Chromium: alice (examiner) signs in, uploads Fadul 1-1 with a case number, opens
the rank-1 candidate and records 'identification'; bob (verifier) signs in, opens the same
candidate, sees that a conclusion exists but not what it is, records his verification, then
sees both and that they agree; after a reload both are there; carol (read-only) sees both
and has no form, and the case report (HTML and PDF) lists both. Then 'ibex serve' is killed with SIGKILL, started again on the same library,
and the trail is whole: both records, same SHA-256s, listed per case and per specimen.
No JavaScript error in the console. Exit 77 as test_workbench.py."""
import json, os, signal, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from harness import check, finish
from wb_common import IBEX, Server, fadul_library, scan_path, chrome, need_browser


BROWSER = need_browser()
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

PASSWORDS = {"alice": "alice-pass-1", "bob": "bob-pass-22", "carol": "carol-pass-3"}
ROLES = {"alice": "examiner", "bob": "verifier", "carol": "read-only"}
CASE = "2026-117"


def add_accounts(path):
    for name, pw in PASSWORDS.items():
        r = subprocess.run([IBEX, "serve", "--accounts", path, "--add-account", name, "--role", ROLES[name]],
                           input=pw + "\n", capture_output=True, text=True, timeout=60)
        check(f"account {name} added", r.returncode == 0, r.stderr)
    r = subprocess.run([IBEX, "serve", "--accounts", path, "--add-account", "eve"], input="short\n",
                       capture_output=True, text=True, timeout=60)
    check("a password under 8 characters is refused (exit 1)", r.returncode == 1 and "8 to 1024" in r.stderr, r.stderr)
    check("the accounts file is private (0600)", (os.stat(path).st_mode & 0o777) == 0o600, oct(os.stat(path).st_mode))
    text = open(path).read()
    check("the file holds Argon2id hashes, not passwords",
          text.count("$argon2id$") == 3 and not any(pw in text for pw in PASSWORDS.values()))


def login(srv, name, origin=True, ctype="application/json", password=None):
    h = {"Content-Type": ctype}
    if origin:
        h["Origin"] = srv.base if origin is True else origin
    body = json.dumps({"name": name, "password": password or PASSWORDS[name]}).encode()
    return srv.request("POST", "/api/login", body, h)


def cookie_session(srv, name):
    st, hd, body = login(srv, name)
    cookies = "; ".join(c.split(";")[0] for c in hd.get("set-cookie", []))
    return st, cookies, json.loads(body).get("csrf") if st == 200 else None


def http_part(srv, job_id, row):
    # anonymous: the sign-in page and the session, nothing else
    st, _, _ = srv.request("GET", "/")
    check("anonymous: the page loads (for signing in)", st == 200, st)
    st, _, b = srv.request("GET", "/api/session")
    s = json.loads(b)
    check("anonymous: /api/session says not signed in, accounts on", st == 200 and s["signed_in"] is False and
          s["accounts"] is True and s["user"] is None, s)
    st, _, _ = srv.request("GET", "/api/specimens")
    check("anonymous: the API is 401", st == 401, st)
    st, _, _ = srv.request("GET", f"/api/jobs/{job_id}/candidates/{row}/conclusions")
    check("anonymous: conclusions are 401", st == 401, st)
    # sign-in rules
    st, _, _ = login(srv, "alice", origin=False)
    check("sign-in without Origin: 403", st == 403, st)
    st, _, _ = login(srv, "alice", origin="http://evil.example")
    check("sign-in from another origin: 403", st == 403, st)
    st, _, _ = login(srv, "alice", ctype="application/x-www-form-urlencoded")
    check("sign-in that is not JSON: 415", st == 415, st)
    t0 = time.monotonic()
    st, hd, b = login(srv, "alice", password="wrong-password")
    dt = time.monotonic() - t0
    check("a wrong password: 401 after about a second, no cookie", st == 401 and dt >= 0.9 and "set-cookie" not in hd,
          (st, dt))
    st, _, b = login(srv, "mallory", password="whatever-1")
    check("an unknown name: the same 401 message", st == 401 and b"wrong name or password" in b, b)
    # the token reads only
    st, _, b = srv.request("GET", "/api/session", bearer=True)
    check("the token gives a read-only session", json.loads(b)["role"] == "read-only", b)
    body = json.dumps({"type": "conclusion", "conclusion": "elimination"}).encode()
    st, _, b = srv.request("POST", f"/api/jobs/{job_id}/candidates/{row}/conclusions", body,
                           {"Content-Type": "application/json"}, bearer=True)
    check("read-only (token) may not record: 403", st == 403, (st, b))
    # a verifier may not record a conclusion of their own; a bad AFTE value is refused
    st, cookies, csrf = cookie_session(srv, "bob")
    check("bob signs in over HTTP", st == 200 and csrf, st)
    h = {"Content-Type": "application/json", "Cookie": cookies, "X-Ibex-CSRF": csrf or "", "Origin": srv.base}
    st, _, b = srv.request("POST", f"/api/jobs/{job_id}/candidates/{row}/conclusions", body, h)
    check("a verifier may not record a conclusion: 403", st == 403 and b"verifier" in b, (st, b))
    st, cookies, csrf = cookie_session(srv, "alice")
    h = {"Content-Type": "application/json", "Cookie": cookies, "X-Ibex-CSRF": csrf or "", "Origin": srv.base}
    bad = json.dumps({"type": "conclusion", "conclusion": "probable identification"}).encode()
    st, _, b = srv.request("POST", f"/api/jobs/{job_id}/candidates/{row}/conclusions", bad, h)
    check("a conclusion outside the AFTE range: 400 with the library's message", st == 400 and b"not one of identification" in b, (st, b))
    h.pop("X-Ibex-CSRF")
    st, _, b = srv.request("POST", f"/api/jobs/{job_id}/candidates/{row}/conclusions", body, h)
    check("recording without the CSRF token: 403", st == 403, (st, b))
    st, _, b = srv.request("GET", "/api/conclusions", bearer=True)
    check("nothing was recorded by the refused requests", json.loads(b)["total"] == 0, b)


def sign_in(driver, wait, name):
    driver.get(driver.base + "/#/signin")
    wait.until(lambda d: d.find_element(By.ID, "view-signin").is_displayed())
    driver.find_element(By.ID, "si-name").clear()
    driver.find_element(By.ID, "si-name").send_keys(name)
    driver.find_element(By.ID, "si-password").send_keys(PASSWORDS[name])
    driver.find_element(By.ID, "si-submit").click()
    wait.until(lambda d: name in d.find_element(By.ID, "who").text)


def sign_out(driver, wait):
    driver.find_element(By.ID, "sign-out").click()
    wait.until(lambda d: d.find_element(By.ID, "view-signin").is_displayed())


def open_candidate(driver, wait, url):
    driver.get(url)
    wait.until(lambda d: d.find_element(By.ID, "concl-panel").is_displayed()
               and d.find_elements(By.CSS_SELECTOR, "#concl-panel h3")
               or d.find_element(By.ID, "cand-error").is_displayed())
    check("the candidate view opened", not driver.find_element(By.ID, "cand-error").is_displayed(),
          driver.find_element(By.ID, "cand-error").text)


def records(driver):
    """The panel's record rows, read in the page at once (the panel is re-drawn after a record)."""
    return driver.execute_script(
        "return [...document.querySelectorAll('#concl-panel .concl-table tbody tr')].map(tr => ({seq: tr.dataset.seq,"
        " type: tr.dataset.type, visible: tr.dataset.visible === '1', text: tr.innerText}))")


def record(driver, wait, value, notes, verifies=None):
    Select(driver.find_element(By.ID, "concl-value")).select_by_value(value)
    if verifies:
        Select(driver.find_element(By.ID, "concl-kind")).select_by_value(str(verifies))
    driver.find_element(By.ID, "concl-notes").send_keys(notes)
    n = len(records(driver))
    driver.find_element(By.ID, "concl-submit").click()
    wait.until(lambda d: len(records(d)) == n + 1 or d.execute_script(
        "const e = document.getElementById('concl-error'); return e && !e.hidden"))
    err = driver.execute_script("const e = document.getElementById('concl-error'); return e ? e.textContent : ''")
    check(f"recorded {value}", len(records(driver)) == n + 1, err)


with tempfile.TemporaryDirectory() as tmp:
    lib = fadul_library(tmp, ["Fadul 1-1", "Fadul 1-2", "Fadul 2-1"])
    if not lib:
        print("SKIP: no real Fadul scans (set IBEX_DATA)")
        sys.exit(77)
    accounts = os.path.join(tmp, "accounts.txt")
    add_accounts(accounts)
    srv = Server(lib, "--tmp", tmp, "--accounts", accounts)
    driver = chrome(tmp, BROWSER)
    driver.base = srv.base
    shots = os.environ.get("IBEX_WEB_SCREENSHOTS")
    first_hashes = None
    try:
        wait = WebDriverWait(driver, 120)
        # --- alice: sign in, search, conclude
        driver.get(srv.base + "/")
        wait.until(lambda d: d.find_element(By.ID, "view-signin").is_displayed())
        check("without a session the page asks to sign in", "#/signin" in driver.current_url, driver.current_url)
        sign_in(driver, wait, "alice")
        driver.get(srv.base + "/#/query")
        wait.until(lambda d: d.find_element(By.ID, "view-query").is_displayed())
        driver.find_element(By.ID, "q-case").send_keys(CASE)
        sl = driver.find_element(By.ID, "q-shortlist")
        sl.clear()
        sl.send_keys("2")
        driver.find_element(By.ID, "q-file").send_keys(scan_path("Fadul 1-1"))
        driver.find_element(By.ID, "q-start").click()
        WebDriverWait(driver, 400).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#job-result[data-final='1']")
                                         or d.find_element(By.ID, "job-error").is_displayed())
        rows = driver.find_elements(By.CSS_SELECTOR, "#rank-table tbody tr")
        ranked = [(r.get_attribute("data-rank"), r.get_attribute("data-id"), r.get_attribute("data-row")) for r in rows]
        check("Fadul 1-2 ranked first", ranked and ranked[0][1] == "fadul:Fadul 1-2", ranked)
        job_id = driver.current_url.split("#/job/")[1].split("/")[0]
        row = int(ranked[0][2])
        cand_url = f"{srv.base}/#/job/{job_id}/cand/{row}"
        http_part(srv, job_id, row)
        open_candidate(driver, wait, cand_url)
        check("no record yet", driver.find_elements(By.ID, "concl-none"), records(driver))
        record(driver, wait, "identification", "lower half of the breech face agrees")
        r = records(driver)
        check("alice sees her conclusion", len(r) == 1 and r[0]["visible"] and "Identification" in r[0]["text"]
              and "alice" in r[0]["text"], r)
        sign_out(driver, wait)

        # --- bob: blind until he has recorded his own
        sign_in(driver, wait, "bob")
        open_candidate(driver, wait, cand_url)
        r = records(driver)
        check("bob sees that a conclusion exists, not what it is", len(r) == 1 and not r[0]["visible"]
              and "alice" in r[0]["text"] and "Identification" not in r[0]["text"] and "hidden" in r[0]["text"], r)
        ans = json.loads(driver.execute_script(
            "return fetch(arguments[0]).then(r => r.text())", f"/api/jobs/{job_id}/candidates/{row}/conclusions"))
        hidden = ans["records"][0] if ans.get("records") else {}
        check("nor does the server send it: no conclusion, notes or scores in bob's answer",
              hidden.get("visible") is False and not {"conclusion", "notes", "scores"} & set(hidden), hidden)
        kinds = [o.get_attribute("value") for o in driver.find_elements(By.CSS_SELECTOR, "#concl-kind option")]
        check("a verifier can only verify record 1", kinds == ["1"], kinds)
        record(driver, wait, "identification", "agree: same marks in the lower half", verifies=1)
        r = records(driver)
        check("after his own, bob sees both, and that they agree", len(r) == 2 and all(x["visible"] for x in r)
              and "Identification" in r[0]["text"] and "agrees" in r[1]["text"], r)
        driver.refresh()
        open_candidate(driver, wait, cand_url)
        r = records(driver)
        check("after a reload both are there", len(r) == 2 and all(x["visible"] for x in r), r)
        if shots:
            el = driver.find_element(By.ID, "concl-panel")
            driver.execute_script("arguments[0].scrollIntoView()", el)
            os.makedirs(shots, exist_ok=True)
            el.screenshot(os.path.join(shots, "conclusions.png"))
        sign_out(driver, wait)

        # --- carol: read-only sees everything, records nothing
        sign_in(driver, wait, "carol")
        open_candidate(driver, wait, cand_url)
        r = records(driver)
        check("read-only sees both records", len(r) == 2 and all(x["visible"] for x in r), r)
        check("read-only has no form", not driver.find_elements(By.ID, "concl-form")
              and driver.find_elements(By.ID, "concl-readonly"))
        # the case report, downloaded by the page's session: the conclusions and their trail
        rep = driver.execute_script("return fetch(arguments[0]).then(async r => ({status: r.status, type: "
                                    "r.headers.get('Content-Type'), text: await r.text()}))",
                                    f"/api/jobs/{job_id}/report.html")
        html = rep["text"]
        check("the report (HTML) lists both conclusions, their examiners and the case",
              rep["status"] == 200 and rep["type"].startswith("text/html") and "alice" in html and "bob" in html
              and "identification" in html and CASE in html and "agree: same marks" in html, (rep["status"], html[:300]))
        pdf = driver.execute_script("return fetch(arguments[0]).then(async r => {const b = new Uint8Array(await "
                                    "r.arrayBuffer()); return {status: r.status, head: String.fromCharCode(...b.slice(0, 5)),"
                                    " n: b.length};})", f"/api/jobs/{job_id}/report.pdf")
        check("the report (PDF) is a PDF", pdf["status"] == 200 and pdf["head"] == "%PDF-" and pdf["n"] > 10000, pdf)
        # per specimen: the candidate's own page lists both
        st, _, b = srv.request("GET", "/api/specimens?q=1-2", bearer=True)
        row12 = json.loads(b)["specimens"][0]["row"]
        driver.get(srv.base + f"/#/specimen/{row12}")
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#sp-conclusions tbody tr")) == 2)
        check("the specimen's page lists both records", "alice" in driver.find_element(By.ID, "sp-conclusions").text
              and "bob" in driver.find_element(By.ID, "sp-conclusions").text)
        driver.get(srv.base + "/#/conclusions")
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#tr-list tbody tr")) == 2)
        check("the trail view lists both, with the case", CASE in driver.find_element(By.ID, "tr-list").text)

        st, _, b = srv.request("GET", f"/api/conclusions?case={CASE}", bearer=True)
        j = json.loads(b)
        recs = sorted(j["records"], key=lambda x: x["seq"])
        check("per case: both records", st == 200 and j["matched"] == 2 and [x["seq"] for x in recs] == [1, 2], j)
        if len(recs) == 2:
            a, v = recs
            check("record 1: alice, examiner, identification, the pair's hashes, scores, method",
                  a["examiner"] == "alice" and a["role"] == "examiner" and a["conclusion"] == "identification"
                  and a["candidate"]["name"] == "fadul:Fadul 1-2" and a["questioned"]["name"] == "Fadul_1-1.x3p"
                  and a["method"] == "cmc" and a["scores"]["rank"] == 1 and a["scores"]["cmc"] >= 6
                  and a["case"] == CASE, a)
            check("record 2 verifies record 1 and agrees", v["type"] == "verification" and v["verifies"] == 1 and
                  v["agrees"] is True and v["prev_sha256"] == a["sha256"] and v["role"] == "verifier", v)
            first_hashes = [a["sha256"], v["sha256"]]
            st, _, b = srv.request("GET", f"/api/conclusions?sha256={a['candidate']['sha256']}", bearer=True)
            check("per specimen: both records", json.loads(b)["matched"] == 2, b)
        logs = driver.get_log("browser")
        # An answered 4xx is logged by Chromium as a network error: the 401 of the first
        # /api/session before signing in is meant.
        errors = [e for e in logs if e.get("level") == "SEVERE" and not (e.get("source") == "network" and
                  ("/api/session" in e.get("message", "") or "/api/login" in e.get("message", "")))]
        check("no JavaScript error in the console", not errors, errors)
    except Exception:
        print("page:", driver.execute_script("return document.body.innerText.slice(0, 1500)"))
        print("console:", driver.get_log("browser"))
        raise
    finally:
        driver.quit()

    # --- killed, restarted: the trail is whole
    srv.p.send_signal(signal.SIGKILL)
    srv.p.wait(timeout=30)
    srv2 = Server(lib, "--tmp", tmp, "--accounts", accounts)
    st, _, b = srv2.request("GET", "/api/conclusions", bearer=True)
    j = json.loads(b) if st == 200 else {}
    hashes = sorted((x["seq"], x["sha256"]) for x in j.get("records", []))
    check("after kill -9 and a restart: both records, same SHA-256s",
          first_hashes is not None and [h for _, h in hashes] == first_hashes, (st, hashes, first_hashes))
    rc = srv2.stop()
    check("ibex serve stops with exit 0", rc == 0, rc)

finish("web_conclusions")
