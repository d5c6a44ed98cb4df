#!/usr/bin/env python3
"""Three IBEX nodes on loopback, each with a library built from a different part of the real
Fadul casings (docs/reference/node.md, "Federation"):

  A: slides F01-F03, built by pushing signed packages (the node's store path: import + index)
  B: slides F04-F06, C: slides F07-F09, built with 'ibex import' + 'ibex index'
  slide F10 is held out: its casing Fadul_10-1 is pushed to A (signed by lab-a), and the
  same scan queries node C with --federate (signed by lab-c).

1. The federated answer at C ranks lab-a's Fadul_10-1 first, marked as living on lab-a, with
   an identification; no other candidate (all from other slides: Fadul ground truth,
   MANIFEST.tsv) is an identification (CMC has no false identifications on Fadul, Song et al.
   2018). The merged list is sorted by score, every node answered, and the answers carry only
   the default policy's fields.
2. Pull replication A -> B into B's library (ibex node pull --lib), rate-capped so that the
   puller can be killed (SIGKILL) mid-transfer; the resumed pull completes. Then every package
   of A's spool is in B's mirror exactly once and in B's library exactly once (h5py reads the
   table: ids, SHA-256 and surfaces), no journal or temporary file is left, and A's log shows
   each package sent once, at most one of them twice (the one in flight at the kill).

Stage 2 is kept cheap: shortlist 2 per node (about a second of CMC per pair).
Exit 77 when the real data (or h5py) is missing. Every server runs with --exit-after and is
killed on exit."""
import json, os, signal, socket, subprocess, sys, tempfile, time

data = os.environ.get("IBEX_DATA") or os.environ.get("IBEX_DATA_DEFAULT", "")
fadul = os.path.join(data, "cartridge", "fadul")
manifest = os.path.join(data, "MANIFEST.tsv")
if not os.path.isdir(fadul) or not os.path.isfile(manifest):
    print(f"SKIP: no Fadul casings under {data!r} (set IBEX_DATA)")
    sys.exit(77)
try:
    import h5py
except ImportError:
    print("SKIP: h5py not installed (Debian: python3-h5py)")
    sys.exit(77)

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from harness import library_rows

IBEX = os.environ["IBEX"]
SHORTLIST = 2
failures = 0


def fail(msg):
    global failures
    failures += 1
    print("FAIL:", msg)


def run(*args, ok=True, **kw):
    r = subprocess.run([IBEX, *args], capture_output=True, text=True, timeout=600, **kw)
    if ok and r.returncode != 0:
        raise SystemExit(f"FAIL: ibex {' '.join(args)} -> {r.returncode}\n{r.stdout}{r.stderr}")
    return r


# Ground truth: slide of each Fadul file, from the manifest.
slide = {}
with open(manifest) as f:
    head = f.readline().rstrip("\n").split("\t")
    for line in f:
        v = dict(zip(head, line.rstrip("\n").split("\t")))
        if v["set"] == "fadul":
            slide[os.path.splitext(os.path.basename(v["relative_path"]))[0]] = v["firearm_id"]
parts = {"lab-a": ["F01", "F02", "F03"], "lab-b": ["F04", "F05", "F06"], "lab-c": ["F07", "F08", "F09"]}
PUSHED = QUERY = "Fadul_10-1"
assert slide[PUSHED] == "F10"
if any(slide[n] == "F10" for lab in parts for n in slide if slide[n] in parts[lab]):
    raise SystemExit("FAIL: held-out slide overlaps a node")


def free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


procs = []


def serve(tmp, lab, port, lib):
    log = open(os.path.join(tmp, lab + ".log"), "w")
    p = subprocess.Popen([IBEX, "node", "serve", "--listen", f"127.0.0.1:{port}", "--key",
                          os.path.join(tmp, lab + ".key"), "--peers", os.path.join(tmp, "peers.txt"),
                          "--lib", lib, "--log", os.path.join(tmp, lab + ".log"), "--max-shortlist",
                          str(SHORTLIST), "--peer-timeout", "300", "--exit-after", "900"],
                         stdout=subprocess.PIPE, stderr=log, text=True)
    procs.append(p)
    line = p.stdout.readline()
    if not line.startswith("listening on"):
        raise SystemExit(f"FAIL: {lab} did not start: {line!r}")
    return line.split()[-1]


def main(tmp):
    labs = ["lab-a", "lab-b", "lab-c"]
    peers = []
    ports = dict(zip(labs, free_ports(3)))
    for lab in labs:
        k = os.path.join(tmp, lab + ".key")
        run("node", "keygen", k, "--name", lab)
        peers.append(open(k + ".pub").read().split()[:2] + [f"http://127.0.0.1:{ports[lab]}"])
    with open(os.path.join(tmp, "peers.txt"), "w") as f:
        for p in peers:
            f.write(" ".join(p) + "\n")
    trust = os.path.join(tmp, "peers.txt")

    # Packages: every casing ingested once into a scratch library, exported signed by its lab.
    scratch = os.path.join(tmp, "scratch.h5")
    run("ingest", scratch, fadul, "--kind", "cartridge")
    pkg = {}
    for lab, slides in parts.items():
        for name in sorted(n for n in slide if slide[n] in slides):
            out = os.path.join(tmp, "pkg", lab, name + ".x3p")
            os.makedirs(os.path.dirname(out), exist_ok=True)
            run("export", scratch, name, out, "--key", os.path.join(tmp, lab + ".key"))
            pkg.setdefault(lab, []).append(out)
    pushed = os.path.join(tmp, "pkg", PUSHED + ".x3p")
    run("export", scratch, PUSHED, pushed, "--key", os.path.join(tmp, "lab-a.key"))
    query = os.path.join(fadul, QUERY + ".x3p")

    libs = {lab: os.path.join(tmp, lab + ".h5") for lab in labs}
    for lab in ["lab-b", "lab-c"]:
        run("import", libs[lab], *pkg[lab], "--trust", trust)
        run("index", libs[lab])
    url = {lab: serve(tmp, lab, ports[lab], libs[lab]) for lab in labs}

    # A's library: pushed one by one (verified, imported, indexed by the node itself).
    key_a = os.path.join(tmp, "lab-a.key")
    for p in pkg["lab-a"] + [pushed]:
        r = run("node", "push", p, "--peer", url["lab-a"], "--key", key_a, "--json")
        body = json.loads(r.stdout)["body"]
        if not body.get("library", "").startswith("stored lab-a:"):
            fail(f"push {p}: library says {body.get('library')!r}")
    again = run("node", "push", pushed, "--peer", url["lab-a"], "--key", key_a, "--json")
    body = json.loads(again.stdout)["body"]
    if not body.get("duplicate") or not body.get("library", "").startswith("skipped"):
        fail(f"second push of the same package: {body}")
    stats = json.loads(run("node", "stats", "--peer", url["lab-a"], "--key", key_a, "--json").stdout)["body"]
    n_a = len(pkg["lab-a"]) + 1
    if stats["library_stored"] != n_a or stats["spool_packages"] != n_a:
        fail(f"A stored {stats['library_stored']} in its library, {stats['spool_packages']} spooled; want {n_a}")

    # 1. Federated query at C for the held-out slide's other casing.
    t0 = time.time()
    r = run("node", "query", query, "--peer", url["lab-c"], "--key", os.path.join(tmp, "lab-c.key"),
            "--federate", "--shortlist", str(SHORTLIST), "--top", "5", "--json")
    ans = json.loads(r.stdout)["body"]
    print(f"federated query: {time.time() - t0:.1f} s")
    for c in ans["candidates"]:
        print(f"  {c['rank']} {c['node']:6} {c.get('id')!s:22} score {c['score']} cmc {c.get('cmc')} "
              f"{c['verdict']}")
    for n in ans["nodes"]:
        print("  node", n)
    top = ans["candidates"][0] if ans["candidates"] else {}
    if top.get("node") != "lab-a" or top.get("id") != "lab-a:" + PUSHED or top.get("verdict") != "identification":
        fail(f"rank 1 is {top.get('id')} at {top.get('node')} ({top.get('verdict')}), want lab-a:{PUSHED} at "
             "lab-a, identification")
    false_id = [c["id"] for c in ans["candidates"][1:] if c["verdict"] == "identification"]
    if false_id:
        fail(f"different-slide candidates identified: {false_id}")
    answered = sorted(n["node"] for n in ans["nodes"] if n.get("status") == 200)
    if answered != labs:
        fail(f"nodes that answered: {answered}")
    scores = [c["score"] for c in ans["candidates"]]
    if any(s is None for s in scores) or scores != sorted(scores, reverse=True):
        fail(f"merged list not ranked by score: {scores}")
    for c in ans["candidates"]:
        if set(c) - {"rank", "node", "id", "score", "stage1", "cmc", "cmc_high", "verdict"}:
            fail(f"answer carries fields beyond the default policy: {sorted(c)}")
    nodes_with = {c["node"] for c in ans["candidates"]}
    if not nodes_with <= set(labs):
        fail(f"unknown nodes in the answer: {nodes_with}")

    # A loop is cut: the same query id sent again is answered as seen, with nothing.
    # (covered by the server's query-id table; here only the count of queries forwarded)
    st_c = json.loads(run("node", "stats", "--peer", url["lab-c"], "--key", os.path.join(tmp, "lab-c.key"),
                          "--json").stdout)["body"]
    if st_c["queries_forwarded"] != 2:
        fail(f"C forwarded {st_c['queries_forwarded']} queries, want 2 (A and B)")

    # 2. Pull A -> B into B's library, killed mid-transfer, then resumed.
    n_b0 = len(pkg["lab-b"])
    mirror = os.path.join(tmp, "b-mirror")
    key_b = os.path.join(tmp, "lab-b.key")
    pull = [IBEX, "node", "pull", "--peer", url["lab-a"], "--key", key_b, "--trust", trust, "--out", mirror,
            "--lib", libs["lab-b"], "--json"]
    p = subprocess.Popen(pull + ["--limit-rate", "1000"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    stored = lambda: [f for f in os.listdir(mirror) if f.endswith(".x3p")] if os.path.isdir(mirror) else []
    while len(stored()) < 3 and p.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    p.send_signal(signal.SIGKILL)
    p.wait()
    at_kill = len(stored())
    print(f"pull killed with {at_kill} of {n_a} packages stored")
    if not (0 < at_kill < n_a):
        fail(f"the kill did not land mid-transfer ({at_kill} of {n_a} stored)")
    r = subprocess.run(pull, capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        fail(f"resumed pull: {r.returncode} {r.stderr}")
    res = json.loads(r.stdout)
    print("resumed pull:", res)
    files = sorted(stored())
    if len(files) != n_a or len({f.split("-", 1)[1] for f in files}) != n_a:
        fail(f"mirror holds {len(files)} packages, want {n_a} distinct")
    if open(os.path.join(mirror, ".cursor")).read().strip() != str(n_a):
        fail("cursor is not at A's last package")
    leftovers = [f for f in os.listdir(mirror) if f.startswith(".tmp-")] + \
        [f for f in os.listdir(tmp) if f.startswith("lab-b.h5") and f not in ("lab-b.h5", "lab-b.h5.spool")]
    if leftovers:
        fail(f"partial files left: {leftovers}")
    with h5py.File(libs["lab-b"], "r") as f:
        t = library_rows(f)
        ids = [r["id"] for r in t]
        shas = [r["sha256"] for r in t]
        nsurf = sum(len(g) for g in f["surfaces"].values())
        heights_ok = all(f["surfaces"][b][s]["height"].shape[0] > 0 for b in f["surfaces"] for s in f["surfaces"][b])
    want = sorted(["lab-a:" + os.path.splitext(os.path.basename(x))[0] for x in pkg["lab-a"]] + ["lab-a:" + PUSHED])
    got_a = sorted(i for i in ids if i.startswith("lab-a:"))
    if got_a != want:
        fail(f"B's library holds A's specimens {got_a}, want each of {want} once")
    if len(ids) != n_b0 + n_a or len(set(ids)) != len(ids) or len(set(shas)) != len(shas):
        fail(f"B's library has {len(ids)} rows ({len(set(ids))} ids, {len(set(shas))} hashes), want {n_b0 + n_a}")
    if nsurf != len(ids) or not heights_ok:
        fail(f"B's library: {nsurf} surfaces for {len(ids)} rows")
    # A's log: each package sent at least once, at most one twice (the one in flight).
    sent = {}
    for line in open(os.path.join(tmp, "lab-a.log")):
        w = line.split()
        if len(w) > 4 and w[2] == "200" and w[3] == "GET" and w[4].startswith("/v1/specimens/"):
            sent[w[4]] = sent.get(w[4], 0) + 1
    twice = [k for k, v in sent.items() if v > 1]
    if len(sent) != n_a or len(twice) > 1 or any(v > 2 for v in sent.values()):
        fail(f"A sent {sum(sent.values())} packages for {n_a} ({len(sent)} distinct, twice: {twice})")
    # B answers queries over what it pulled: the held-out casing's mate is now at B too.
    r = run("node", "query", query, "--peer", url["lab-b"], "--key", key_b, "--shortlist", "1", "--top", "1",
            "--json")
    top_b = json.loads(r.stdout)["body"]["candidates"][0]
    if top_b.get("id") != "lab-a:" + PUSHED or top_b.get("node") != "lab-b":
        fail(f"after the pull, B's rank 1 is {top_b}")


with tempfile.TemporaryDirectory(prefix="ibex-nodes-") as tmp:
    try:
        main(tmp)
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        if failures:
            for lab in ["lab-a", "lab-b", "lab-c"]:
                lp = os.path.join(tmp, lab + ".log")
                if os.path.exists(lp):
                    print(f"--- {lab} log (tail)")
                    print("".join(open(lp).readlines()[-15:]))
print("FAILURES:", failures)
sys.exit(1 if failures else 0)
