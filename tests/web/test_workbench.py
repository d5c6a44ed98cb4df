#!/usr/bin/env python3
"""The workbench in a real browser (headless Chromium through Selenium): a library of real
Fadul casings (three slides), 'ibex serve' on a free port, the page opened with its token.
Checks: the library list shows every specimen with its picture; a malformed upload shows
the reader's message; Fadul 1-1 uploaded and searched, a casing of the same slide ranked
first, no conclusion words on the page; the candidate view's two canvases hold a picture,
which changes when the light moves; a click on a cell highlights the table row it names;
the split view (one canvas, A left of the divider, B right of it: dragging the divider's
handle turns a band from A to B, the arrow keys move it, pan and zoom still work; the
heights in colour with a colour bar), the
difference map (in colour, with a colour bar labelled in micrometres) and the overlay of
the shadings (follows the light), then side by side again; no JavaScript error in the
console. Prints the timings (page, query, candidate view, switching the view mode).

Exit 77 (skipped) when the real scans are missing, or when chromium, chromedriver or
selenium are missing outside CI (CI=true: missing browser packages fail).
IBEX_WEB_SCREENSHOTS=DIR: also write the screenshots of the docs there."""
import io, json, os, re, sys, tempfile, time, zipfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from harness import check, finish
from wb_common import Server, fadul_library, scan_path, chrome, need_browser, screenshot


BROWSER = need_browser()
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

# Pixels of a canvas: mean and spread of the luminance, and a coarse signature to compare.
PIXELS_JS = """
const c = document.getElementById(arguments[0]);
const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
let s = 0, s2 = 0, n = 0; const sig = [];
for (let i = 0; i < d.length; i += 4) {
  const v = 0.299 * d[i] + 0.587 * d[i + 1] + 0.114 * d[i + 2];
  s += v; s2 += v * v; n++;
  if ((i / 4) % 997 === 0) sig.push(Math.round(v));
}
const m = s / n;
return {mean: m, sd: Math.sqrt(Math.max(0, s2 / n - m * m)), sig: sig, renders: Number(c.dataset.renders || 0)};
"""

# Pixels of a vertical band of a canvas (from x0 to x1, fractions of its width): the luminance
# on a grid of 24 x 60 points, and how many of the points are coloured (red and blue apart).
BAND_JS = """
const c = document.getElementById(arguments[0]), x0 = arguments[1], x1 = arguments[2];
const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
const sig = []; let warm = 0, cold = 0;
for (let j = 0; j < 60; j++) {
  const y = Math.floor((j + 0.5) * c.height / 60);
  for (let i = 0; i < 24; i++) {
    const x = Math.floor((x0 + (i + 0.5) * (x1 - x0) / 24) * c.width), o = 4 * (y * c.width + x);
    sig.push(Math.round(0.299 * d[o] + 0.587 * d[o + 1] + 0.114 * d[o + 2]));
    if (d[o] - d[o + 2] > 60) warm++;
    if (d[o + 2] - d[o] > 60) cold++;
  }
}
return {sig: sig, warm: warm, cold: cold, renders: Number(c.dataset.renders || 0)};
"""


def n_changed(a, b, by=10):
    """How many samples of two signatures differ by more than `by`."""
    return sum(1 for x, y in zip(a, b) if abs(x - y) > by)




with tempfile.TemporaryDirectory() as tmp:
    lib = fadul_library(tmp)
    if not lib:
        print("SKIP: no real Fadul scans (set IBEX_DATA)")
        sys.exit(77)
    srv = Server(lib, "--tmp", tmp)
    driver = chrome(tmp, BROWSER)
    shots = os.environ.get("IBEX_WEB_SCREENSHOTS")
    timings = {}
    try:
        wait = WebDriverWait(driver, 120)
        # --- the library browser
        t0 = time.monotonic()
        driver.get(srv.url)
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#lib-table tbody tr")) == 7 and d.execute_script(
            "return [...document.querySelectorAll('#lib-table img.thumb')].every(i => i.complete && i.naturalWidth > 0)"))
        timings["first page load (library list with pictures), s"] = round(time.monotonic() - t0, 2)
        check("the token left the address bar", "token=" not in driver.current_url, driver.current_url)
        screenshot(driver, shots, "library.png", "view-library")
        ids = [tr.get_attribute("data-id") for tr in driver.find_elements(By.CSS_SELECTOR, "#lib-table tbody tr")]
        check("the list shows every specimen", sorted(ids) == sorted("fadul:" + s for s in
              ["Fadul 1-1", "Fadul 1-2", "Fadul F", "Fadul 2-1", "Fadul 2-2", "Fadul 10-1", "Fadul 10-2"]), ids)
        text = driver.find_element(By.ID, "lib-table").text
        check("rows show kind, set and firearm", "cartridge" in text and "fadul" in text and "F10" in text, text[:300])
        # one specimen opened: its picture and its metadata
        driver.find_element(By.CSS_SELECTOR, "#lib-table tr[data-id='fadul:Fadul 1-2'] a.spec").click()
        wait.until(lambda d: d.find_element(By.ID, "view-specimen").is_displayed() and d.execute_script(
            "const i = document.getElementById('sp-picture'); return i.complete && i.naturalWidth > 0"))
        meta = driver.find_element(By.ID, "sp-meta").text
        check("a specimen opens on its picture and metadata", "fadul:Fadul 1-2" in driver.find_element(By.ID, "sp-title").text
              and "F01" in meta and re.search(r"[0-9a-f]{64}", meta)
              and driver.execute_script("return document.getElementById('sp-picture').naturalWidth") >= 300, meta)
        driver.get(srv.base + "/#/library")
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#lib-table tbody tr")) == 7)
        driver.find_element(By.ID, "f-q").send_keys("F10")
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#lib-table tbody tr")) == 2)
        check("the text filter narrows the list", "of 7 in the library" in driver.find_element(By.ID, "lib-count").text)

        # --- a malformed upload: the reader's message on the page
        bad = os.path.join(tmp, "broken.x3p")
        z = io.BytesIO()
        with zipfile.ZipFile(z, "w") as zf:
            zf.writestr("notes.txt", "no main.xml")
        open(bad, "wb").write(z.getvalue())
        driver.find_element(By.ID, "nav-query").click()
        wait.until(lambda d: d.find_element(By.ID, "view-query").is_displayed())
        driver.find_element(By.ID, "q-file").send_keys(bad)
        driver.find_element(By.ID, "q-start").click()
        wait.until(lambda d: d.find_element(By.ID, "q-error").is_displayed())
        msg = driver.find_element(By.ID, "q-error").text
        check("a malformed X3P shows the reader's message", msg.startswith("broken.x3p:") and "main.xml" in msg, msg)

        # --- Fadul 1-1 uploaded and searched
        sl = driver.find_element(By.ID, "q-shortlist")
        sl.clear()
        sl.send_keys("4")
        driver.find_element(By.ID, "q-file").send_keys(scan_path("Fadul 1-1"))
        t0 = time.monotonic()
        driver.find_element(By.ID, "q-start").click()
        # The list while stage 2 runs: the stage-1 shortlist at once, marked provisional.
        provisional = None
        while time.monotonic() - t0 < 400:
            st = driver.execute_script(
                "const r = document.getElementById('job-result'), e = document.getElementById('job-error');"
                "return {shown: !r.hidden, final: r.dataset.final, rows: r.querySelectorAll('#rank-table tbody tr').length,"
                " opens: r.querySelectorAll('a.open').length, summary: document.getElementById('job-summary').textContent,"
                " error: !e.hidden};")
            if st["error"] or (st["shown"] and st["final"] == "1"):
                break
            if st["shown"] and st["final"] == "0" and provisional is None:
                provisional = dict(st, t=round(time.monotonic() - t0, 2))
            time.sleep(0.05)
        timings["query (upload, stage 1, stage 2 on 4 + itself, list shown), s"] = round(time.monotonic() - t0, 2)
        check("the stage-1 list was shown while stage 2 ran, marked provisional, without candidate links",
              provisional and provisional["rows"] == 4 and provisional["summary"].startswith("Provisional")
              and provisional["opens"] == 0, provisional)
        if provisional:
            timings["stage-1 list shown after submitting (as Selenium polls it), s"] = provisional["t"]
        check("the search finished", driver.find_elements(By.CSS_SELECTOR, "#job-result[data-final='1']"),
              driver.find_element(By.ID, "job-error").text)
        rows = driver.find_elements(By.CSS_SELECTOR, "#rank-table tbody tr")
        ranked = [(r.get_attribute("data-rank"), r.get_attribute("data-id"), r.get_attribute("data-firearm")) for r in rows]
        print("ranked:", ranked)
        check("four candidates, Fadul 1-1 itself left out", len(rows) == 4 and "fadul:Fadul 1-1" not in [x[1] for x in ranked],
              ranked)
        check("a casing of the same slide (F01) at rank 1", ranked and ranked[0][0] == "1" and ranked[0][2] == "F01", ranked)
        body = driver.find_element(By.TAG_NAME, "body").text.lower()
        for word in ["identification", "elimination", "inconclusive", "unsuitable", "match"]:
            check(f"no conclusion word '{word}' on the ranked list", word not in body)
        check("the reference mark is explained", "reference" in driver.find_element(By.ID, "ref-note").text.lower())
        links = [driver.find_element(By.ID, i) for i in ("report-html", "report-pdf")]
        check("the case report's download links",
              all(a.is_displayed() and a.get_attribute("download") is not None for a in links)
              and re.search(r"/api/jobs/[0-9a-f]{32}/report\.html(\?examiner=[^&]*)?$", links[0].get_attribute("href") or "")
              and re.search(r"/api/jobs/[0-9a-f]{32}/report\.pdf(\?examiner=[^&]*)?$", links[1].get_attribute("href") or ""),
              [a.get_attribute("href") for a in links])
        screenshot(driver, shots, "ranked.png", "view-job")

        # --- the candidate view
        t0 = time.monotonic()
        rows[0].find_element(By.CSS_SELECTOR, "a.open").click()
        WebDriverWait(driver, 300).until(lambda d: d.find_element(By.ID, "cand-body").is_displayed()
                                         or d.find_element(By.ID, "cand-error").is_displayed())
        wait.until(lambda d: d.execute_script(PIXELS_JS, "canvas-c")["renders"] >= 1)
        timings["candidate view (compare, heights, shading), s"] = round(time.monotonic() - t0, 2)
        check("the candidate view opened", driver.find_element(By.ID, "cand-body").is_displayed(),
              driver.find_element(By.ID, "cand-error").text)
        before = {k: driver.execute_script(PIXELS_JS, k) for k in ["canvas-q", "canvas-c"]}
        for k, p in before.items():
            check(f"{k} is not blank", p["sd"] > 8 and len(set(p["sig"])) > 20, {x: p[x] for x in ["mean", "sd", "renders"]})
        summary = driver.find_element(By.ID, "cand-summary").text
        check("the summary gives CMC counts and the registration", "CMC" in summary and "\u03b8" in summary, summary)
        screenshot(driver, shots, "candidate.png", "view-candidate", 0.6, 1000)
        # the light moves: both pictures change
        renders = before["canvas-q"]["renders"]
        driver.execute_script("const e = document.getElementById('light-az'); e.value = 135;"
                              "e.dispatchEvent(new Event('input'));")
        wait.until(lambda d: d.execute_script(PIXELS_JS, "canvas-q")["renders"] > renders)
        for k in ["canvas-q", "canvas-c"]:
            after = driver.execute_script(PIXELS_JS, k)
            changed = sum(1 for a, b in zip(before[k]["sig"], after["sig"]) if abs(a - b) > 10)
            check(f"{k} changes with the light", changed > len(after["sig"]) // 10, (changed, len(after["sig"])))
        # a click on a cell highlights its row; another panel's cell too
        congruent = [int(tr.get_attribute("data-cell")) for tr in driver.find_elements(By.CSS_SELECTOR, "#cell-table tbody tr")
                     if tr.find_elements(By.CSS_SELECTOR, "td.yes")]
        check("the cell table lists congruent cells", len(congruent) >= 6, congruent)
        for k, canvas_id, n in [(0, "canvas-q", congruent[0]), (1, "canvas-c", congruent[-1])]:
            canvas = driver.find_element(By.ID, canvas_id)
            driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", canvas)
            p = driver.execute_script("return window.ibexWorkbench.view.cellClientPoint(arguments[0], arguments[1])", n, k)
            r = driver.execute_script("const r = arguments[0].getBoundingClientRect(); return {x: r.left + r.width / 2,"
                                      " y: r.top + r.height / 2};", canvas)
            ActionChains(driver).move_to_element_with_offset(canvas, int(p["x"] - r["x"]), int(p["y"] - r["y"])).click().perform()
            sel = [int(tr.get_attribute("data-cell")) for tr in driver.find_elements(By.CSS_SELECTOR, "#cell-table tr.selected")]
            check(f"a click on cell {n} ({canvas_id}) highlights its row, and only it", sel == [n], sel)
            why = driver.find_element(By.CSS_SELECTOR, f"#cell-table tr[data-cell='{n}'] td.why").text
            check(f"cell {n}'s row says why it is congruent", why.startswith("congruent:") and "CCF" in why, why)
        # --- the split view: one canvas, A left of the divider, B right of it
        def renders():
            return driver.execute_script(PIXELS_JS, "canvas-q")["renders"]

        def choose(name, value):
            r0 = renders()
            t = time.monotonic()
            driver.find_element(By.CSS_SELECTOR, f"input[name='{name}'][value='{value}']").click()
            wait.until(lambda d: renders() > r0)
            return round(time.monotonic() - t, 3)

        driver.execute_script("window.scrollTo(0, 0)")
        timings["switch to split view, s"] = choose("view-mode", "split")
        check("split: one canvas (B's panel hidden)", not driver.find_element(By.ID, "fig-c").is_displayed()
              and driver.find_element(By.ID, "split-handle").is_displayed())
        p = driver.execute_script(PIXELS_JS, "canvas-q")
        check("the split canvas is not blank", p["sd"] > 8 and len(set(p["sig"])) > 20, {x: p[x] for x in ["mean", "sd"]})
        left, right = (driver.execute_script(BAND_JS, "canvas-q", a, b) for a, b in [(0.25, 0.45), (0.55, 0.75)])
        handle = driver.find_element(By.ID, "split-handle")
        canvas = driver.find_element(By.ID, "canvas-q")
        width = canvas.size["width"]
        check("the divider starts in the middle", handle.get_attribute("aria-valuenow") == "50")
        screenshot(driver, shots, "split.png", "view-candidate", 0.6, 1000)
        r0 = renders()
        ActionChains(driver).click_and_hold(handle).move_by_offset(-int(0.2 * width), 0).move_by_offset(
            -int(0.2 * width), 0).release().perform()
        wait.until(lambda d: renders() > r0)
        div = driver.execute_script("return window.ibexWorkbench.compare.divider")
        check("dragging the handle moves the divider", 0.05 < div < 0.2, div)
        left2, right2 = (driver.execute_script(BAND_JS, "canvas-q", a, b) for a, b in [(0.25, 0.45), (0.55, 0.75)])
        # A and B are two casings of one firearm, well registered: their shadings are alike,
        # and much of a band is the unmeasured centre, so "differ" is a few grey levels on
        # one point in twenty, "the same" is the same grey level on 99 in 100
        n_left, n_right = n_changed(left["sig"], left2["sig"], 3), n_changed(right["sig"], right2["sig"], 0)
        check("the band the divider crossed turns from A to B", n_left > len(left["sig"]) // 20, (n_left, len(left["sig"])))
        check("the band right of the divider stays B", n_right < len(right["sig"]) // 100, (n_right, len(right["sig"])))
        # the same band shows B as the right half does: B's pixels, A's left of the divider
        # differ from them (A and B are two casings, registered but not equal)
        driver.execute_script("window.ibexWorkbench.compare.setDivider(0.0);")
        b_left = driver.execute_script(BAND_JS, "canvas-q", 0.25, 0.45)
        check("after the drag the band shows B", n_changed(b_left["sig"], left2["sig"], 0) < len(left2["sig"]) // 100)
        driver.execute_script("window.ibexWorkbench.compare.setDivider(1.0);")
        a_left = driver.execute_script(BAND_JS, "canvas-q", 0.25, 0.45)
        n_ab = n_changed(a_left["sig"], b_left["sig"], 3)
        print(f"split: of {len(left['sig'])} points of the band, {n_left} changed when the divider crossed it, "
              f"{n_right} right of it; A and B differ on {n_ab}")
        check("A and B differ in the same place", n_ab > len(b_left["sig"]) // 20, (n_ab, len(b_left["sig"])))
        check("before the drag the band showed A", n_changed(a_left["sig"], left["sig"], 0) < len(left["sig"]) // 100)
        # the keyboard moves it too
        driver.execute_script("window.ibexWorkbench.compare.setDivider(0.5);")
        handle.send_keys(Keys.ARROW_RIGHT, Keys.ARROW_RIGHT, Keys.ARROW_RIGHT)
        check("arrow keys on the focused handle move the divider", handle.get_attribute("aria-valuenow") == "53",
              handle.get_attribute("aria-valuenow"))
        # pan (a drag away from the divider) and wheel zoom still work
        v0 = driver.execute_script("return {...window.ibexWorkbench.view.view}")
        ActionChains(driver).move_to_element_with_offset(canvas, int(0.3 * width), 0).click_and_hold().move_by_offset(
            30, 20).release().perform()
        v1 = driver.execute_script("return {...window.ibexWorkbench.view.view}")
        check("a drag on the split canvas pans", abs(v1["tx"] - v0["tx"] - 30) < 3 and abs(v1["ty"] - v0["ty"] - 20) < 3,
              (v0, v1))
        driver.execute_script("arguments[0].dispatchEvent(new WheelEvent('wheel', {deltaY: -200, clientX: 300, clientY: 300,"
                              " bubbles: true, cancelable: true}))", canvas)
        v2 = driver.execute_script("return {...window.ibexWorkbench.view.view}")
        check("the wheel zooms the split canvas", v2["s"] > v1["s"] * 1.1, (v1, v2))
        driver.execute_script("arguments[0].dispatchEvent(new WheelEvent('wheel', {deltaY: -200, clientX: 300, clientY: 300,"
                              " bubbles: true, cancelable: true}))", handle)
        v3 = driver.execute_script("return {...window.ibexWorkbench.view.view}")
        check("the wheel over the divider's handle zooms too", v3["s"] > v2["s"] * 1.1, (v2, v3))
        driver.find_element(By.ID, "view-fit").click()
        # the heights in colour, on one scale with a colour bar
        bar = driver.find_element(By.ID, "colour-bar")
        check("no colour bar over the shadings", not bar.is_displayed())
        r0 = renders()
        driver.find_element(By.ID, "split-colour").click()
        wait.until(lambda d: renders() > r0)
        band = driver.execute_script(BAND_JS, "canvas-q", 0.1, 0.9)
        labels = [driver.find_element(By.ID, f"colour-bar-{k}").text for k in ["lo", "mid", "hi"]]
        check("split, heights in colour: coloured, with a colour bar of heights in \u00b5m",
              band["warm"] > 20 and band["cold"] > 20 and bar.is_displayed() and bar.get_attribute("data-kind") == "heights"
              and all("\u00b5m" in x for x in labels), (band["warm"], band["cold"], labels))
        print("height colour bar:", labels)
        screenshot(driver, shots, "split-heights.png", "view-candidate", 0.6, 1100)
        r0 = renders()
        driver.find_element(By.ID, "split-colour").click()
        wait.until(lambda d: renders() > r0)

        # --- the difference map
        timings["switch to difference map, s"] = choose("view-mode", "overlay")
        check("overlay: one canvas, no divider", not driver.find_element(By.ID, "fig-c").is_displayed()
              and not driver.find_element(By.ID, "split-handle").is_displayed())
        p = driver.execute_script(PIXELS_JS, "canvas-q")
        check("the difference map is not blank", p["sd"] > 8 and len(set(p["sig"])) > 20, {x: p[x] for x in ["mean", "sd"]})
        band = driver.execute_script(BAND_JS, "canvas-q", 0.1, 0.9)
        check("the difference map is in colour, both signs", band["warm"] > 20 and band["cold"] > 20, (band["warm"], band["cold"]))
        lo, mid, hi = (driver.find_element(By.ID, f"colour-bar-{k}").text for k in ["lo", "mid", "hi"])
        rng = float(bar.get_attribute("data-range"))
        print("colour bar:", lo, mid, hi, "range", rng)
        check("a colour bar labelled in \u00b5m, symmetric", bar.is_displayed() and all("\u00b5m" in x for x in [lo, mid, hi])
              and lo.lstrip("\u2212") == hi.lstrip("+") and 0 < rng < 100, (lo, mid, hi, rng))
        ramp = driver.execute_script(BAND_JS, "colour-bar-ramp", 0, 1)
        check("the colour bar's ramp is painted", ramp["warm"] > 100 and ramp["cold"] > 100, (ramp["warm"], ramp["cold"]))
        screenshot(driver, shots, "difference.png", "view-candidate", 0.6, 1100)
        # the light does not change the difference; it changes the overlay of the shadings
        timings["switch to overlay of the shadings, s"] = choose("overlay-kind", "colour")
        check("the colour bar gives way to the overlay's legend", not bar.is_displayed()
              and driver.find_element(By.ID, "overlay-legend").is_displayed())
        p = driver.execute_script(PIXELS_JS, "canvas-q")
        check("the overlay of the shadings is not blank", p["sd"] > 8 and len(set(p["sig"])) > 20,
              {x: p[x] for x in ["mean", "sd"]})
        ov = driver.execute_script(BAND_JS, "canvas-q", 0.1, 0.9)
        r0 = renders()
        driver.execute_script("const e = document.getElementById('light-az'); e.value = 45; e.dispatchEvent(new Event('input'));")
        wait.until(lambda d: renders() > r0)
        ov2 = driver.execute_script(BAND_JS, "canvas-q", 0.1, 0.9)
        check("the overlay follows the light", n_changed(ov["sig"], ov2["sig"]) > len(ov["sig"]) // 10)
        timings["back to side by side, s"] = choose("view-mode", "side")
        check("side by side again: both panels", driver.find_element(By.ID, "fig-c").is_displayed()
              and not bar.is_displayed())
        for k in ["canvas-q", "canvas-c"]:
            p = driver.execute_script(PIXELS_JS, k)
            check(f"{k} is not blank again", p["sd"] > 8 and len(set(p["sig"])) > 20, {x: p[x] for x in ["mean", "sd"]})
        print("in the page, ms:", driver.execute_script("const t = window.ibexWorkbench.timings;"
                                                        "return {mode_switch: t.mode, difference_map: t.compareViews}"))

        # the API answers the candidate view with the counts of the ranked list
        j = json.loads(driver.execute_script(
            "return fetch(location.pathname.replace(/\\/$/, '') + '/api/jobs').then(r => r.text())"))
        check("the session lists its search", len(j["jobs"]) == 1 and j["jobs"][0]["state"] == "done", j)

        logs = driver.get_log("browser")
        # Chromium logs an answered 4xx as a network error: the refused upload above is meant.
        errors = [e for e in logs if e.get("level") == "SEVERE"
                  and not (e.get("source") == "network" and "name=broken.x3p" in e.get("message", ""))]
        check("no JavaScript error in the console", not errors, errors)
        print("timings:", json.dumps(timings))
        print("console:", len(logs), "entries")
    except Exception:
        print("page state:", driver.execute_script(
            "return document.getElementById('lib-count').textContent + ' | ' + document.body.innerText.slice(0, 600)"))
        print("console:", driver.get_log("browser"))
        raise
    finally:
        driver.quit()
        rc = srv.stop()
    check("ibex serve stops with exit 0", rc == 0, rc)

finish("web_workbench")
