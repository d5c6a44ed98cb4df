#!/usr/bin/env python3
"""The bullet candidate view in a real browser (headless Chromium through Selenium): a library
of real Hamby 44 land scans (bullets 1 and 2 of barrel 1, six lands each, and the one land of
unknown bullet E, barrel 7), 'ibex serve' on a free port, a search with Bullet 1 Land 1.
Checks: the ranked list leads with a land of barrel 1; the same-barrel candidate of bullet 2
opens on the bullet view: a 6 x 6 matrix of land scores, the six pairs of the best phase
outlined (one a row and a column, on one cyclic diagonal), the bullet score; a click on a cell
draws that pair's aligned signatures and its two land surfaces (canvases not blank); no
conclusion word in the view (the examiners' panel under it offers the AFTE range); unknown bullet E (one land of barrel 7) gives a 6 x 1 matrix with
its best land pair outlined; no JavaScript error in the console. Prints the timings. The JSON
API itself is checked over plain HTTP by test_bullets_api.py.

Exit 77 (skipped) when the real scans are missing, or when chromium, chromedriver or
selenium are missing outside CI (CI=true: missing browser packages fail).
IBEX_WEB_SCREENSHOTS=DIR: also write bullets.png there."""
import json, os, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from harness import check, finish
from wb_common import Server, hamby44_library, chrome, need_browser, screenshot


BROWSER = need_browser()
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

PIXELS_JS = """
const c = document.getElementById(arguments[0]);
const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
let s = 0, s2 = 0, n = 0; const sig = new Set();
for (let i = 0; i < d.length; i += 4) {
  const v = 0.299 * d[i] + 0.587 * d[i + 1] + 0.114 * d[i + 2];
  s += v; s2 += v * v; n++;
  if ((i / 4) % 97 === 0) sig.add(Math.round(v));
}
const m = s / n;
return {mean: m, sd: Math.sqrt(Math.max(0, s2 / n - m * m)), distinct: sig.size, w: c.width, h: c.height,
        renders: Number(c.dataset.renders || 0), pair: c.dataset.pair || ''};
"""




with tempfile.TemporaryDirectory() as tmp:
    timings = {}
    t0 = time.monotonic()
    lib = hamby44_library(tmp)
    if not lib:
        print("SKIP: no real Hamby 44 scans (set IBEX_DATA)")
        sys.exit(77)
    timings["library (ingest and index of 13 lands), s"] = round(time.monotonic() - t0, 2)
    srv = Server(lib, "--tmp", tmp)
    driver = chrome(tmp, BROWSER)
    shots = os.environ.get("IBEX_WEB_SCREENSHOTS")
    try:
        wait = WebDriverWait(driver, 120)
        driver.get(srv.url)
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#lib-table tbody tr")) == 13)
        # --- search with Bullet 1 Land 1, every other land in the list
        driver.execute_script("document.getElementById('q-shortlist').value = 12")
        t0 = time.monotonic()
        driver.find_element(By.CSS_SELECTOR, "#lib-table tr[data-id='hamby44:Bullet 1 Land 1'] button.pick").click()
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#job-result[data-final='1']") or d.find_element(By.ID, "job-error").is_displayed())
        timings["search (stage 1 and 2 on 12 lands, list shown), s"] = round(time.monotonic() - t0, 2)
        check("the search finished", driver.find_elements(By.CSS_SELECTOR, "#job-result[data-final='1']"),
              driver.find_element(By.ID, "job-error").text)
        rows = driver.find_elements(By.CSS_SELECTOR, "#rank-table tbody tr")
        ranked = [(r.get_attribute("data-rank"), r.get_attribute("data-id"), r.get_attribute("data-firearm"),
                   r.get_attribute("data-row")) for r in rows]
        print("ranked:", ranked)
        check("twelve candidates, the questioned land left out",
              len(ranked) == 12 and "hamby44:Bullet 1 Land 1" not in [x[1] for x in ranked], ranked)
        check("a land of barrel 1 at rank 1", ranked and ranked[0][2] == "Barrel 1", ranked)
        job = driver.current_url.split("#/job/")[1].split("/")[0]
        same = [r for r in rows if (r.get_attribute("data-id") or "").startswith("hamby44:Bullet 2")]
        other = [x for x in ranked if x[1] == "hamby44:Unknown E Land 1"]
        check("a land of bullet 2 (same barrel) is listed", same, ranked)

        # --- the bullet view of the same-barrel candidate
        t0 = time.monotonic()
        crow = int(same[0].get_attribute("data-row"))
        same[0].find_element(By.CSS_SELECTOR, "a.open").click()
        wait.until(lambda d: d.find_element(By.ID, "view-bullet").is_displayed() or d.find_element(By.ID, "cand-error").is_displayed())
        check("the bullet view opened", driver.find_element(By.ID, "view-bullet").is_displayed(),
              driver.find_element(By.ID, "cand-error").text)
        wait.until(lambda d: d.execute_script(PIXELS_JS, "bul-land-c")["renders"] >= 1)
        timings["bullet view (compare 6 x 6 lands, matrix, best pair drawn), s"] = round(time.monotonic() - t0, 2)
        cells = driver.execute_script(
            "return [...document.querySelectorAll('#bul-matrix tbody tr')].map(tr => [...tr.querySelectorAll('td')]"
            ".map(td => ({a: Number(td.dataset.a), b: Number(td.dataset.b), best: td.classList.contains('best'),"
            " text: td.textContent, none: td.classList.contains('none')})))")
        check("the matrix has 6 x 6 cells", len(cells) == 6 and all(len(r) == 6 for r in cells), [len(r) for r in cells])
        check("every cell shows its land score and CCF",
              all(not c["none"] and "CCF" in c["text"] for r in cells for c in r), cells[0][:2])
        best = [c for r in cells for c in r if c["best"]]
        check("six best-phase cells outlined, one a row and a column",
              len(best) == 6 and len({c["a"] for c in best}) == 6 and len({c["b"] for c in best}) == 6, best)
        check("the best-phase cells lie on one cyclic diagonal", len({(c["b"] - c["a"]) % 6 for c in best}) == 1, best)
        check("their land scores are high", all(float(c["text"][:4]) >= 0.5 for c in best), [c["text"] for c in best])
        summary = driver.find_element(By.ID, "bul-summary").text
        check("the summary gives the bullet score and the phase", "Bullet score" in summary and "phase" in summary, summary)
        # The software's output carries no conclusion word; the examiners' panel below it offers
        # the AFTE range as choices, which is what it is for.
        body = driver.find_element(By.ID, "view-bullet").text.lower()
        for word in ["identification", "elimination", "inconclusive", "unsuitable", "match"]:
            check(f"no conclusion word '{word}' on the bullet view", word not in body)
        check("the examiners' panel is under the bullet view", driver.find_element(By.ID, "concl-panel").is_displayed())

        # --- a click on another best-phase cell: its traces and land surfaces
        sel = driver.execute_script("return window.ibexWorkbench.bullet.sel")
        pick = next(c for c in best if [c["a"], c["b"]] != sel)
        t0 = time.monotonic()
        td = driver.find_element(By.CSS_SELECTOR, f"#bul-matrix td[data-a='{pick['a']}'][data-b='{pick['b']}']")
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", td)
        td.click()
        key = f"{pick['a']},{pick['b']}"
        wait.until(lambda d: all(d.execute_script(PIXELS_JS, k)["pair"] == key for k in ["bul-traces", "bul-land-q", "bul-land-c"]))
        timings["land pair shown (signatures, two height maps, shading), s"] = round(time.monotonic() - t0, 2)
        check("the clicked cell is selected", "selected" in td.get_attribute("class"), td.get_attribute("class"))
        px = {k: driver.execute_script(PIXELS_JS, k) for k in ["bul-traces", "bul-land-q", "bul-land-c"]}
        check("the traces canvas is not blank", px["bul-traces"]["sd"] > 5 and px["bul-traces"]["distinct"] > 5, px["bul-traces"])
        for k in ["bul-land-q", "bul-land-c"]:
            check(f"{k} is not blank", px[k]["sd"] > 8 and px[k]["distinct"] > 20, px[k])
        info = driver.find_element(By.ID, "bul-pair-info").text
        check("the pair's numbers are given", "CCF" in info and "lag" in info and "\u00b5m" in info, info)
        screenshot(driver, shots, "bullets.png", "view-bullet", 0.6, 1600)
        # the light moves: the land surfaces change
        before = driver.execute_script(PIXELS_JS, "bul-land-q")
        driver.execute_script("const e = document.getElementById('bl-az'); e.value = 90; e.dispatchEvent(new Event('input'));")
        wait.until(lambda d: d.execute_script(PIXELS_JS, "bul-land-q")["renders"] > before["renders"])
        after = driver.execute_script(PIXELS_JS, "bul-land-q")
        print("light 270 -> 90:", {k: (round(before[k], 1), round(after[k], 1)) for k in ("mean", "sd")})
        check("the land surface changes with the light", abs(after["mean"] - before["mean"]) > 2
              or abs(after["sd"] - before["sd"]) > 2, (before, after))

        # --- an examiner's conclusion on the bullet pair (no accounts: the name as typed),
        # found again after a reload, and in the case report
        pair_url = driver.current_url
        wait.until(lambda d: d.find_elements(By.ID, "concl-value"))
        driver.find_element(By.ID, "concl-examiner").send_keys("dana")
        Select(driver.find_element(By.ID, "concl-value")).select_by_value("identification")
        driver.find_element(By.ID, "concl-notes").send_keys("lands 1-6 agree at the best phase")
        driver.find_element(By.ID, "concl-submit").click()
        rows = lambda d: d.execute_script("return [...document.querySelectorAll('#concl-panel .concl-table tbody tr')]"
                                          ".map(tr => tr.innerText)")
        wait.until(lambda d: len(rows(d)) == 1)
        driver.get("about:blank")
        driver.get(pair_url)
        wait.until(lambda d: len(rows(d)) == 1)
        check("the bullet conclusion is there after a reload", "dana" in rows(driver)[0]
              and "Identification" in rows(driver)[0], rows(driver))
        rep = driver.execute_script("return fetch(arguments[0]).then(r => r.text())",
                                    f"/api/jobs/{job}/report.html?examiner=dana")
        check("the case report lists it", "dana" in rep and "lands 1-6 agree" in rep and "bullet" in rep)

        # --- unknown bullet E, one land of another barrel: the 6 x 1 matrix of land to bullet
        if other:
            driver.get(f"{srv.base}/#/job/{job}/cand/{other[0][3]}")
            wait.until(lambda d: d.find_element(By.ID, "view-bullet").is_displayed()
                       and "one land" in d.find_element(By.ID, "bul-summary").text)
            wait.until(lambda d: d.execute_script(PIXELS_JS, "bul-land-c")["renders"] >= 1)
            shape = driver.execute_script("return [...document.querySelectorAll('#bul-matrix tbody tr')].map(tr => "
                                          "tr.querySelectorAll('td').length)")
            nbest = len(driver.find_elements(By.CSS_SELECTOR, "#bul-matrix td.best"))
            check("bullet E: a 6 x 1 matrix, its best land pair outlined", shape == [1] * 6 and nbest == 1, (shape, nbest))

        logs = driver.get_log("browser")
        errors = [e for e in logs if e.get("level") == "SEVERE"]
        check("no JavaScript error in the console", not errors, errors)

        print("timings:", json.dumps(timings))
    except Exception:
        print("page state:", driver.execute_script("return document.body.innerText.slice(0, 800)"))
        print("console:", driver.get_log("browser"))
        raise
    finally:
        driver.quit()
        rc = srv.stop()
    check("ibex serve stops with exit 0", rc == 0, rc)

finish("web_bullets")
