"""What the workbench tests share: starting 'ibex serve' on a free port and reading where it
listens, HTTP requests with the standard library only, and the real Fadul casings as a small
library. A script imports it after putting tests/web on sys.path."""
import base64, http.client, os, queue, re, shutil, subprocess, sys, threading, time

IBEX = os.environ["IBEX"]


def run(*args, **kw):
    r = subprocess.run([IBEX, *args], capture_output=True, text=True, timeout=600, **kw)
    if r.returncode != 0:
        print(f"FAIL: ibex {' '.join(args)}: exit {r.returncode}\n{r.stderr[-2000:]}")
        sys.exit(1)
    return r


class Server:
    """'ibex serve LIB --listen 127.0.0.1:0 ...' until stop(); .host, .port, .token, .url."""

    def __init__(self, lib, *extra, log=None):
        self.log_path = log
        self.p = subprocess.Popen([IBEX, "serve", lib, "--listen", "127.0.0.1:0", *extra] +
                                  (["--log", log] if log else ["--quiet"]),
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        lines = queue.Queue()
        threading.Thread(target=lambda: [lines.put(l) for l in self.p.stdout], daemon=True).start()
        deadline, out = time.monotonic() + 30, ""
        while time.monotonic() < deadline and "open http" not in out:
            try:
                out += lines.get(timeout=1)
            except queue.Empty:
                if self.p.poll() is not None:
                    break
        m = re.search(r"open http://([0-9.]+):(\d+)/\?token=([0-9a-f]{64})", out)
        if not m:
            self.p.kill()
            print("FAIL: ibex serve did not print where it listens:", out, self.p.stderr.read()[-2000:])
            sys.exit(1)
        self.host, self.port, self.token = m.group(1), int(m.group(2)), m.group(3)
        self.base = f"http://{self.host}:{self.port}"
        self.url = f"{self.base}/?token={self.token}"
        self.printed = out

    def stop(self):
        self.p.terminate()
        try:
            rc = self.p.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.p.kill()
            rc = "killed"
        return rc

    def request(self, method, path, body=None, headers=None, bearer=False, host=None):
        """One request on a fresh connection; path is sent exactly as given.
        Returns (status, headers dict (lower-case names; set-cookie as a list), body bytes)."""
        h = dict(headers or {})
        if bearer:
            h["Authorization"] = f"Bearer {self.token}"
        c = http.client.HTTPConnection(self.host, self.port, timeout=120)
        c.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        c.putheader("Host", host or f"{self.host}:{self.port}")
        for k, v in h.items():
            c.putheader(k, v)
        if body is not None and not any(k.lower() in ("content-length", "transfer-encoding") for k in h):
            c.putheader("Content-Length", str(len(body)))
        c.endheaders()
        if body:
            try:
                c.send(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # refused before the body: the answer is still there to read
        r = c.getresponse()
        data = r.read()
        hd = {}
        for k, v in r.getheaders():
            k = k.lower()
            if k == "set-cookie":
                hd.setdefault(k, []).append(v)
            else:
                hd[k] = v
        c.close()
        return r.status, hd, data


def data_dir():
    return os.environ.get("IBEX_DATA") or os.environ.get("IBEX_DATA_DEFAULT", "")


# A handful of Fadul casings of three slides: Fadul 1-1 is the questioned scan of the tests,
# with two mates (1-2, F) and four casings of two other slides.
FADUL_SUBSET = ["Fadul 1-1", "Fadul 1-2", "Fadul F", "Fadul 2-1", "Fadul 2-2", "Fadul 10-1", "Fadul 10-2"]


def fadul_library(tmp, subset=None):
    """LIB.h5 of FADUL_SUBSET (or subset) in tmp, ingested through a manifest (firearm ids =
    ground truth) and indexed; None when the real data are not there."""
    subset = subset or FADUL_SUBSET
    data = data_dir()
    manifest = os.path.join(data, "MANIFEST.tsv")
    if not os.path.isfile(manifest):
        return None
    with open(manifest) as f:
        head = f.readline()
        cols = head.rstrip("\n").split("\t")
        rows = [l for l in f if dict(zip(cols, l.rstrip("\n").split("\t"))).get("specimen_id") in subset
                and dict(zip(cols, l.rstrip("\n").split("\t"))).get("set") == "fadul"]
    if len(rows) != len(subset):
        return None
    with open(os.path.join(tmp, "MANIFEST.tsv"), "w") as f:
        f.write(head + "".join(rows))
    os.symlink(os.path.abspath(os.path.join(data, "cartridge")), os.path.join(tmp, "cartridge"))
    lib = os.path.join(tmp, "fadul.h5")
    run("ingest", lib, "--manifest", os.path.join(tmp, "MANIFEST.tsv"))
    run("index", lib)
    return lib


def scan_path(name):
    return os.path.realpath(os.path.join(data_dir(), "cartridge", "fadul", name.replace(" ", "_") + ".x3p"))


# Hamby 44 bullets: two bullets of barrel 1 (six lands each) and one land of the unknown
# bullet E (barrel 7), one row a land scan.
HAMBY44_BULLETS = ["Barrel_1-Bullet_1-Land_%d" % i for i in range(1, 7)] + \
    ["Barrel_1-Bullet_2-Land_%d" % i for i in range(1, 7)] + ["Unknown-Bullet_E-Land_1"]


def hamby44_library(tmp):
    """LIB.h5 of HAMBY44_BULLETS in tmp (manifest ingest: firearm ids = ground truth, indexed);
    None when the real data are not there."""
    data = data_dir()
    manifest = os.path.join(data, "MANIFEST.tsv")
    if not os.path.isfile(manifest):
        return None
    want = {f"bullet/hamby44/{n}.x3p" for n in HAMBY44_BULLETS}
    with open(manifest) as f:
        head = f.readline()
        rows = [l for l in f if l.split("\t", 1)[0] in want]
    if len(rows) != len(want) or not all(os.path.isfile(os.path.join(data, r.split("\t", 1)[0])) for r in rows):
        return None
    with open(os.path.join(tmp, "MANIFEST.tsv"), "w") as f:
        f.write(head + "".join(rows))
    os.symlink(os.path.abspath(os.path.join(data, "bullet")), os.path.join(tmp, "bullet"))
    lib = os.path.join(tmp, "hamby44.h5")
    run("ingest", lib, "--manifest", os.path.join(tmp, "MANIFEST.tsv"))
    run("index", lib)
    return lib


def need_browser():
    """(chromium, chromedriver) paths, with selenium importable; else exit 77 (skipped), or 1
    when CI is set (CI installs the browser packages, so their absence is a failure)."""
    def missing(what):
        if os.environ.get("CI"):
            print(f"FAIL: {what} (CI: install the Debian packages chromium chromium-driver python3-selenium)")
            sys.exit(1)
        print(f"SKIP: {what} (Debian: chromium chromium-driver python3-selenium)")
        sys.exit(77)
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_bin = shutil.which("chromedriver")
    if not chromium:
        missing("no chromium")
    if not driver_bin:
        missing("no chromedriver")
    try:
        import selenium.webdriver  # noqa: F401
    except ImportError:
        missing("no selenium for this python")
    return chromium, driver_bin


def chrome(tmp, browser, name="chrome", log=True):
    """Headless Chromium (browser: need_browser()'s pair) with its own profile in tmp/name,
    its console log kept when log is set."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    opts = webdriver.ChromeOptions()
    opts.binary_location = browser[0]
    for a in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1300,1000",
              "--no-first-run", "--disable-extensions", "--disable-background-networking",
              f"--user-data-dir={tmp}/{name}"]:
        opts.add_argument(a)
    if log:
        opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(browser[1]), options=opts)


def screenshot(driver, out_dir, name, element_id, scale=0.7, max_height=1400):
    """A PNG of one element, scaled (keeps the docs' pictures small); nothing without out_dir."""
    if not out_dir:
        return
    r = driver.execute_script("const r = document.getElementById(arguments[0]).getBoundingClientRect();"
                              "return {x: r.left + window.scrollX, y: r.top + window.scrollY, w: r.width, h: r.height};",
                              element_id)
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {
        "format": "png", "captureBeyondViewport": True,
        "clip": {"x": r["x"], "y": r["y"], "width": r["w"], "height": min(r["h"], max_height), "scale": scale}})
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, name), "wb") as f:
        f.write(base64.b64decode(shot["data"]))
