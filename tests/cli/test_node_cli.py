#!/usr/bin/env python3
"""ibex node as a user meets it: keygen, sign, verify (intact, flipped byte, truncated,
unsigned, untrusted), then a real `ibex node serve` on an ephemeral loopback port with
health, push, pull and query from the command-line client. The X3P input is written here with
Python's zipfile, and the signed package is read back with it (any zip/X3P tool can).
Loopback only; the server is stopped at the end (and by --exit-after as a backstop)."""
import json, os, shutil, subprocess, sys, tempfile, zipfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from harness import IBEX, expect, finish, run, write_x3p


def tiny_x3p(path, nx=9, ny=6):
    return write_x3p(path, nx, ny, [((i * 7) % 13) * 1e-7 for i in range(nx * ny)])
with tempfile.TemporaryDirectory() as d:
    P = lambda n: os.path.join(d, n)
    # --help everywhere, usage errors exit 2
    r = run("node", "--help")
    expect(r.returncode == 0 and "keygen" in r.stdout and "serve" in r.stdout, "node --help", r)
    for sub in ("keygen", "sign", "verify", "serve", "push", "pull", "health", "stats", "query"):
        r = run("node", sub, "--help")
        expect(r.returncode == 0 and f"ibex node {sub}" in r.stdout, f"node {sub} --help", r)
    expect(run("node").returncode == 2, "node without subcommand: exit 2")
    expect(run("node", "frob").returncode == 2, "unknown node subcommand: exit 2")
    expect(run("node", "sign", P("x.x3p")).returncode == 2, "sign without OUT/--key: exit 2")
    expect(run("node", "verify", P("x.x3p")).returncode == 2, "verify without --trust: exit 2")
    expect(run("node", "serve", "--listen", "127.0.0.1:0").returncode == 2, "serve without key: exit 2")

    # keys
    for name in ("lab-a", "lab-b", "lab-c"):
        r = run("node", "keygen", P(name + ".key"))
        expect(r.returncode == 0 and name in r.stdout, f"keygen {name}", r)
    expect(oct(os.stat(P("lab-a.key")).st_mode & 0o777) == "0o600", "secret key mode 0600")
    r = run("node", "keygen", P("lab-a.key"))
    expect(r.returncode == 1 and "already exists" in r.stderr, "keygen never overwrites", r)
    r = run("node", "keygen", P("k2.key"), "--name", "bad name")
    expect(r.returncode == 2, "keygen with a bad name: exit 2", r)
    with open(P("peers.txt"), "w") as f:
        f.write("# who we trust\n")
        for name in ("lab-a", "lab-b"):
            f.write(open(P(name + ".key.pub")).read())

    # sign and verify
    data = tiny_x3p(P("scan.x3p"))
    r = run("node", "sign", P("scan.x3p"), P("pkg.x3p"), "--key", P("lab-a.key"), "--param", "filter=gauss", "--param", "cutoff_um=250")
    expect(r.returncode == 0, "sign", r)
    r = run("node", "verify", P("pkg.x3p"), "--trust", P("peers.txt"), "--params")
    expect(r.returncode == 0 and "signed by lab-a, intact" in r.stdout and "cutoff_um = 250" in r.stdout, "verify intact", r)
    with zipfile.ZipFile(P("pkg.x3p")) as z:
        expect(z.testzip() is None, "package passes zipfile's CRC check")
        expect(z.read("bindata/data.bin") == data, "package carries the same point data")
        expect(json.loads(z.read("vendor/ibex-preprocess.json")) == {"filter": "gauss", "cutoff_um": "250"}, "preprocess member")
        expect(z.comment.startswith(b"ibex-sig/1 lab-a "), "signature in the archive comment")
    r = run("info", P("pkg.x3p"), "--json")
    expect(r.returncode == 0 and json.loads(r.stdout)[0]["nx"] == 9, "ibex info reads the package as X3P", r)
    raw = open(P("pkg.x3p"), "rb").read()
    for i in (len(raw) - 30, 10, len(raw) // 2):  # signature, a header, member data (kept for push)
        with open(P("flip.x3p"), "wb") as f:
            f.write(raw[:i] + bytes([raw[i] ^ 1]) + raw[i + 1:])
        r = run("node", "verify", P("flip.x3p"), "--trust", P("peers.txt"))
        expect(r.returncode == 1 and "flip.x3p" in r.stderr and len(r.stderr.strip().splitlines()) == 1, f"flipped byte {i} refused", r)
    expect("altered after signing" in r.stderr, "a flip in member data is reported as altered", r)
    with open(P("trunc.x3p"), "wb") as f:
        f.write(raw[:len(raw) - 50])
    r = run("node", "verify", P("trunc.x3p"), "--trust", P("peers.txt"))
    expect(r.returncode == 1 and "truncated" in r.stderr, "truncated refused", r)
    r = run("node", "verify", P("scan.x3p"), "--trust", P("peers.txt"), "--json")
    expect(r.returncode == 1 and json.loads(r.stdout)[0]["fault"] == "unsigned", "unsigned refused (json)", r)
    run("node", "sign", P("scan.x3p"), P("pkg-c.x3p"), "--key", P("lab-c.key"))
    r = run("node", "verify", P("pkg-c.x3p"), "--trust", P("peers.txt"))
    expect(r.returncode == 1 and "not in the trust list" in r.stderr, "untrusted signer refused", r)

    # a real server on a kernel-chosen loopback port
    srv = subprocess.Popen([IBEX, "node", "serve", "--listen", "127.0.0.1:0", "--key", P("lab-a.key"),
                            "--peers", P("peers.txt"), "--spool", P("spool"), "--log", P("node.log"),
                            "--exit-after", "120"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = srv.stdout.readline().strip()
        expect(line.startswith("listening on http://127.0.0.1:"), "serve announces its address: " + line)
        url = line.split()[-1]
        B = ("--peer", url, "--key", P("lab-b.key"))
        r = run("node", "health", *B, "--json")
        expect(r.returncode == 0 and json.loads(r.stdout)["body"]["node"] == "lab-a", "health 200", r)
        r = run("node", "health", "--peer", url, "--key", P("lab-c.key"))
        expect(r.returncode == 1 and "401" in r.stderr and "unknown node" in r.stderr, "unknown key refused", r)
        r = run("node", "health", *B, "--to", "lab-a")
        expect(r.returncode == 0, "health signed for the node's own name", r)
        r = run("node", "health", *B, "--to", "lab-z")
        expect(r.returncode == 1 and "signed for node 'lab-z'" in r.stderr, "signed for another node: refused", r)
        r = run("node", "push", P("pkg.x3p"), *B)
        expect(r.returncode == 0 and '"seq": 1' in r.stdout, "push stored", r)
        r = run("node", "push", P("flip.x3p"), *B)
        expect(r.returncode == 1 and "422" in r.stderr, "push of a flipped package refused", r)
        r = run("node", "push", P("pkg-c.x3p"), *B)
        expect(r.returncode == 1 and "403" in r.stderr, "push of an untrusted package refused", r)
        spooled = [n for n in os.listdir(P("spool")) if n.endswith(".x3p")]
        expect(len(spooled) == 1, "one package in the spool")
        r = run("node", "pull", *B, "--trust", P("peers.txt"), "--out", P("pulled"))
        expect(r.returncode == 0 and "stored 1" in r.stdout, "pull stores one", r)
        got = [n for n in os.listdir(P("pulled")) if n.endswith(".x3p")]
        expect(len(got) == 1 and open(os.path.join(P("pulled"), got[0]), "rb").read() == raw, "pulled bytes identical")
        r = run("node", "pull", *B, "--trust", P("peers.txt"), "--out", P("pulled"), "--json")
        expect(r.returncode == 0 and json.loads(r.stdout)["fetched"] == 0, "second pull fetches nothing", r)
        r = run("node", "query", P("pkg.x3p"), *B)
        expect(r.returncode == 1 and "501" in r.stderr and "no reference library" in r.stderr,
               "query of a node without --lib answers 501", r)
        r = run("node", "stats", *B, "--json")
        expect(r.returncode == 0 and json.loads(r.stdout)["body"]["packages_accepted"] == 1, "stats", r)
    finally:
        srv.terminate()
        try:
            rc = srv.wait(timeout=20)
        except subprocess.TimeoutExpired:
            srv.kill()
            rc = -1
    expect(rc == 0, "server stops cleanly on SIGTERM")
    # A node that trusts lab-c, whose package is its seq 1; seqs 2 and 3 are lab-a's. A puller
    # that does not trust lab-c records seq 1 as refused, stores the others and moves past all
    # three (exit 1: something was refused); the next pull has nothing new and records nothing.
    import hashlib
    with open(P("peers-open.txt"), "w") as f:
        for name in ("lab-a", "lab-b", "lab-c"):
            f.write(open(P(name + ".key.pub")).read())
    for i in (2, 3):
        r = run("node", "sign", P("scan.x3p"), P(f"pkg{i}.x3p"), "--key", P("lab-a.key"), "--param", f"run={i}")
        expect(r.returncode == 0, f"sign package {i}", r)
    srv = subprocess.Popen([IBEX, "node", "serve", "--listen", "127.0.0.1:0", "--key", P("lab-a.key"),
                            "--peers", P("peers-open.txt"), "--spool", P("spool-open"), "--quiet",
                            "--exit-after", "120"], stdout=subprocess.PIPE, text=True)
    try:
        url = srv.stdout.readline().strip().split()[-1]
        B = ("--peer", url, "--key", P("lab-b.key"))
        for n in ("pkg-c.x3p", "pkg2.x3p", "pkg3.x3p"):
            r = run("node", "push", P(n), *B)
            expect(r.returncode == 0, f"push {n} to the open node", r)
        r = run("node", "pull", *B, "--trust", P("peers.txt"), "--out", P("mirror"))
        log = os.path.join(P("mirror"), "refused.tsv")
        expect(r.returncode == 1 and "pulled 3, stored 2, refused 1; cursor 3" in r.stdout and log in r.stderr,
               "pull passes over an untrusted package and stores the rest (exit 1)", r)
        got = sorted(n for n in os.listdir(P("mirror")) if n.endswith(".x3p"))
        expect([n[:20] for n in got] == ["%020d" % 2, "%020d" % 3], "seqs 2 and 3 mirrored: %s" % got)
        lines = open(log).read().splitlines()
        sha_c = hashlib.sha256(open(P("pkg-c.x3p"), "rb").read()).hexdigest()
        fields = lines[0].split("\t") if lines else []
        expect(len(lines) == 1 and len(fields) == 4 and fields[:2] == ["1", sha_c] and "not in the trust list" in fields[3],
               "refusal recorded: %s" % lines)
        r = run("node", "pull", *B, "--trust", P("peers.txt"), "--out", P("mirror"), "--json")
        j = json.loads(r.stdout) if r.returncode == 0 else {}
        expect(j.get("fetched") == 0 and j.get("refused") == 0 and j.get("cursor") == 3 and "refused_log" not in j,
               "second pull fetches nothing new", r)
        expect(len(open(log).read().splitlines()) == 1, "second pull records nothing again")
        shutil.rmtree(P("mirror"))
        r = run("node", "pull", *B, "--trust", P("peers.txt"), "--out", P("mirror"), "--json")
        j = json.loads(r.stdout) if r.stdout.startswith("{") else {}
        expect(r.returncode == 1 and j.get("ok") is True and j.get("stored") == 2 and j.get("refused") == 1 and
               j.get("refused_log") == log, "pull --json names the refusal log", r)
    finally:
        srv.terminate()
        try:
            srv.wait(timeout=20)
        except subprocess.TimeoutExpired:
            srv.kill()
    # HTTPS with a self-signed certificate, when openssl is there to make one
    if shutil.which("openssl"):
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-days", "2",
                        "-nodes", "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1",
                        "-keyout", P("tls.key"), "-out", P("tls.crt")], capture_output=True, timeout=60)
        tls = subprocess.Popen([IBEX, "node", "serve", "--listen", "127.0.0.1:0", "--key", P("lab-a.key"),
                                "--peers", P("peers.txt"), "--spool", P("spool-tls"), "--quiet", "--tls-cert", P("tls.crt"),
                                "--tls-key", P("tls.key"), "--exit-after", "60"], stdout=subprocess.PIPE, text=True)
        try:
            line = tls.stdout.readline().strip()
            expect(line.startswith("listening on https://127.0.0.1:"), "TLS serve announces https: " + line)
            url = line.split()[-1]
            r = run("node", "health", "--peer", url, "--key", P("lab-b.key"), "--ca", P("tls.crt"))
            expect(r.returncode == 0 and '"node": "lab-a"' in r.stdout, "health over HTTPS", r)
            r = run("node", "health", "--peer", url, "--key", P("lab-b.key"))
            expect(r.returncode == 1, "HTTPS with an unknown CA refused", r)
        finally:
            tls.terminate()
            try:
                tls.wait(timeout=20)
            except subprocess.TimeoutExpired:
                tls.kill()
    else:
        print("note: openssl not found, HTTPS case skipped")
    log = open(P("node.log")).read()
    expect(" 401 GET /v1/health node=lab-c" in log, "refused request logged")

finish("node cli")
