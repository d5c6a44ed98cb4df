#!/usr/bin/python3
"""How fast the examiner workbench answers, in a real browser (headless Chromium): the speed
targets of the workbench issue, measured, not asserted.

usage: IBEX=build/cli/ibex /usr/bin/python3 bench/workbench_speed.py [--runs N] [--json FILE]

Each run starts 'ibex serve' on a library of seven real Fadul casings (as tests/web does; the
scans are found at $IBEX_DATA, else ../shared/datasets/real), then measures:
  first page cold   the library list with its seven pictures, opened right after the server
                    printed its address (pictures drawn on demand, or by the warm-up thread)
  first page warm   the same in a fresh browser 5 s later (pictures drawn at start)
  stage-1 list      from submitting Fadul 1-1 (shortlist 4) to the provisional list on screen
  final list        to the list after stage 2
  candidate view    rank 1 opened right after the final list (its comparison may still be
                    running in the background), and rank 2 opened 8 s later (compared by then)
  pan/zoom redraw   50 wheel zooms and drags in the page: mean redraw time, and whether any
                    went to the server (resource entries counted before and after)
Prints the medians over the runs with the machine's load and CPU count."""
import argparse, json, os, statistics, sys, tempfile, time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "web"))
os.environ.setdefault("IBEX_DATA_DEFAULT", os.path.join(HERE, "..", "..", "shared", "datasets", "real"))
from wb_common import Server, chrome, fadul_library, need_browser, scan_path  # noqa: E402

BROWSER = need_browser()
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

REDRAW_JS = """
const done = arguments[arguments.length - 1];
const c = document.getElementById('canvas-q');
const before = performance.getEntriesByType('resource').length;
const r = c.getBoundingClientRect(), x = r.left + r.width / 2, y = r.top + r.height / 2;
let i = 0; const times = [];
function step() {
  if (i === 50) {
    done({mean_ms: times.reduce((a, b) => a + b, 0) / times.length,
          requests: performance.getEntriesByType('resource').length - before});
    return;
  }
  const t0 = performance.now();
  if (i % 2) c.dispatchEvent(new WheelEvent('wheel', {clientX: x, clientY: y, deltaY: i % 4 === 1 ? -120 : 120, bubbles: true, cancelable: true}));
  else {
    c.dispatchEvent(new PointerEvent('pointerdown', {clientX: x, clientY: y, bubbles: true, pointerId: 1, button: 0}));
    c.dispatchEvent(new PointerEvent('pointermove', {clientX: x + 7, clientY: y + 5, bubbles: true, pointerId: 1, buttons: 1}));
    c.dispatchEvent(new PointerEvent('pointerup', {clientX: x + 7, clientY: y + 5, bubbles: true, pointerId: 1}));
  }
  requestAnimationFrame(() => { times.push(performance.now() - t0); i++; step(); });
}
step();
"""


def browser(tmp, k):
    return chrome(tmp, BROWSER, f"chrome{k}", log=False)


def library_loaded(d):
    return len(d.find_elements(By.CSS_SELECTOR, "#lib-table tbody tr")) == 7 and d.execute_script(
        "return [...document.querySelectorAll('#lib-table img.thumb')].every(i => i.complete && i.naturalWidth > 0)")


def open_candidate(d, srv, job, row):
    t0 = time.monotonic()
    d.get(f"{srv.base}/#/job/{job}/cand/{row}")
    WebDriverWait(d, 300).until(lambda x: x.execute_script(
        "const c = document.getElementById('canvas-c'); return c && Number(c.dataset.renders || 0) >= 1"
        " && !document.getElementById('cand-body').hidden"))
    return time.monotonic() - t0


def one_run(tmp, lib, k):
    out = {}
    srv = Server(lib, "--tmp", tmp, "--quiet")
    d = browser(tmp, f"{k}a")
    try:
        t0 = time.monotonic()
        d.get(srv.url)
        WebDriverWait(d, 120).until(library_loaded)
        out["first page cold, s"] = time.monotonic() - t0
    finally:
        d.quit()
    time.sleep(5)
    d = browser(tmp, f"{k}b")
    try:
        t0 = time.monotonic()
        d.get(srv.url)
        WebDriverWait(d, 120).until(library_loaded)
        out["first page warm, s"] = time.monotonic() - t0
        d.find_element(By.ID, "nav-query").click()
        sl = d.find_element(By.ID, "q-shortlist")
        sl.clear()
        sl.send_keys("4")
        d.find_element(By.ID, "q-file").send_keys(scan_path("Fadul 1-1"))
        t0 = time.monotonic()
        d.find_element(By.ID, "q-start").click()
        stage1 = None
        while time.monotonic() - t0 < 400:
            st = d.execute_script("const r = document.getElementById('job-result'); return r.hidden ? '' : r.dataset.final")
            if st == "0" and stage1 is None:
                stage1 = time.monotonic() - t0
            if st == "1":
                break
            time.sleep(0.02)
        out["final list, s"] = time.monotonic() - t0
        if stage1 is not None:
            out["stage-1 list, s"] = stage1
        job = d.current_url.split("#/job/")[1].split("/")[0]
        rows = [int(r.get_attribute("data-row")) for r in d.find_elements(By.CSS_SELECTOR, "#rank-table tbody tr")]
        out["candidate view, rank 1 at once, s"] = open_candidate(d, srv, job, rows[0])
        time.sleep(8)
        out["candidate view, rank 2 after 8 s, s"] = open_candidate(d, srv, job, rows[1])
        r = d.execute_async_script(REDRAW_JS)
        out["pan/zoom redraw, ms"] = r["mean_ms"]
        out["pan/zoom requests to the server"] = r["requests"]
    finally:
        d.quit()
        srv.stop()
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--json", help="also write the figures here")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        lib = fadul_library(tmp)
        if not lib:
            print("no real Fadul scans: set IBEX_DATA")
            return 1
        runs = []
        for k in range(a.runs):
            runs.append(one_run(tmp, lib, k))
            print(f"run {k + 1}: " + ", ".join(f"{n} {v:.2f}" for n, v in runs[-1].items()), flush=True)
    keys = list(runs[0])
    med = {n: statistics.median(r[n] for r in runs if n in r) for n in keys}
    load = os.getloadavg()
    print(f"\nmedians of {a.runs} runs ({os.cpu_count()} CPUs, load {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}):")
    targets = {"first page warm, s": 1.0, "first page cold, s": 1.0, "stage-1 list, s": 1.0,
               "candidate view, rank 2 after 8 s, s": 1.0, "candidate view, rank 1 at once, s": 1.0}
    for n in keys:
        t = targets.get(n)
        print(f"  {n:40s} {med[n]:8.2f}" + (f"   target < {t:g}: {'met' if med[n] < t else 'NOT met'}" if t else ""))
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"runs": runs, "medians": med, "cpus": os.cpu_count(), "load": load}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
