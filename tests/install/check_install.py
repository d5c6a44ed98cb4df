"""The library as an outside user gets it: `meson install --destdir` of this build, then
examples/compare_pair.c compiled against the installed tree with `pkg-config --cflags --libs
ibex` only, run on Fadul 1-1 and 1-2; its CMC counts must be those of `ibex compare --json`.

usage: check_install.py BUILD_DIR EXAMPLE.c"""
import glob, json, os, re, shutil, subprocess, sys, tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from harness import run, check, failures, finish

build, example = sys.argv[1], sys.argv[2]
data = os.environ.get("IBEX_DATA") or os.environ.get("IBEX_DATA_DEFAULT", "")
a = os.path.join(data, "cartridge", "fadul", "Fadul_1-1.x3p")
b = os.path.join(data, "cartridge", "fadul", "Fadul_1-2.x3p")

with tempfile.TemporaryDirectory() as dest:
    r = subprocess.run(["meson", "install", "-C", build, "--destdir", dest, "--no-rebuild",
                        "--quiet"], capture_output=True, text=True)
    check("meson install", r.returncode == 0, r.stdout + r.stderr)
    pcs = glob.glob(os.path.join(dest, "**", "pkgconfig", "ibex.pc"), recursive=True)
    check("ibex.pc installed", len(pcs) == 1, pcs)
    if not pcs:
        finish("install")
    pc = pcs[0]
    prefix = re.search(r"^prefix=(.*)$", open(pc).read(), re.M).group(1)
    headers = glob.glob(os.path.join(dest + prefix, "include", "ibex", "*.h"))
    check("public headers installed", any(h.endswith("ibex.h") for h in headers), headers)
    check("no private header installed",
          not glob.glob(os.path.join(dest, "**", "*_internal.h"), recursive=True))
    libs = glob.glob(os.path.join(dest, "**", "libibex.so.*"), recursive=True)
    check("libibex.so installed with its soversion", libs, libs)

    env = dict(os.environ, PKG_CONFIG_PATH=os.path.dirname(pc), PKG_CONFIG_SYSROOT_DIR="")
    flags = subprocess.run(["pkg-config", "--define-variable=prefix=" + dest + prefix,
                            "--cflags", "--libs", "ibex"], capture_output=True, text=True,
                           env=env)
    check("pkg-config --cflags --libs ibex", flags.returncode == 0, flags.stderr)
    exe = os.path.join(dest, "compare_pair")
    cc = os.environ.get("CC", "cc")
    r = subprocess.run([cc, "-std=c17", "-Wall", "-Wextra", "-Werror", example, "-o", exe]
                       + flags.stdout.split(), capture_output=True, text=True)
    check("example builds against the installed tree", r.returncode == 0, r.stderr)
    if r.returncode:
        finish("install")

    # Only the public API is exported.
    nm = subprocess.run(["nm", "-D", "--defined-only", libs[0]], capture_output=True, text=True)
    syms = [l.split()[-1] for l in nm.stdout.splitlines() if " T " in l]
    check("exports the public API", "ibex_cmc_plan_run" in syms, len(syms))
    check("exports nothing else", all(s.startswith("ibex_") and not s.startswith("ibex__")
                                       for s in syms), [s for s in syms if not s.startswith("ibex_") or s.startswith("ibex__")][:10])

    if not (os.path.isfile(a) and os.path.isfile(b)):
        if failures():
            finish("install")
        print("SKIP: no Fadul scans (set IBEX_DATA); the build and install checks passed")
        sys.exit(77)
    libdir = os.path.dirname(libs[0])
    r = subprocess.run([exe, a, b], capture_output=True, text=True,
                       env=dict(os.environ, LD_LIBRARY_PATH=libdir))
    check("example runs", r.returncode == 0, r.stderr)
    m = re.search(r"cmc (\d+) \(A in B (\d+), B in A (\d+)\)  high_cmc (\d+)", r.stdout)
    check("example prints the counts", m, r.stdout)
    ref = run("compare", "--json", a, b)
    check("ibex compare", ref.returncode == 0, ref.stderr)
    if m and ref.returncode == 0:
        j = json.loads(ref.stdout)
        got = tuple(int(g) for g in m.groups())
        want = (j["cmc"], j["directions"][0]["cmc"], j["directions"][1]["cmc"], j["cmc_high"])
        check("same CMC counts as ibex compare", got == want, f"example {got} ibex {want}")
        print("example:", r.stdout.strip())
finish("install")
