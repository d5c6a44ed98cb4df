#!/usr/bin/env python3
"""`ibex render` as a user meets it. Inputs are PNGs written here with Python's zlib (independent
of IBEX); outputs are checked with an independent PNG parser: signature, chunk CRCs, IHDR and the
inflated pixel data of the right size."""
import json, os, struct, sys, tempfile, zlib

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from harness import expect, finish, run
def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

def grey16_png(path, w, h):
    """A 16-bit grey PNG of a tilted sine: rows of filter byte 0 + big-endian samples."""
    import math
    raw = bytearray()
    for y in range(h):
        raw.append(0)
        for x in range(w):
            v = int(32767 + 20000 * math.sin(0.3 * x) + 300 * y) % 65536
            raw += struct.pack(">H", v)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n")
        f.write(chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, 0, 0, 0, 0)))
        f.write(chunk(b"IDAT", zlib.compress(bytes(raw))))
        f.write(chunk(b"IEND", b""))

def parse_png(path):
    """(width, height, bit depth, colour type) of a well-formed PNG, else raise ValueError."""
    b = open(path, "rb").read()
    if b[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("bad signature")
    i, ihdr, idat, kinds = 8, None, b"", []
    while i < len(b):
        n, = struct.unpack(">I", b[i:i + 4])
        kind, data = b[i + 4:i + 8], b[i + 8:i + 8 + n]
        crc, = struct.unpack(">I", b[i + 8 + n:i + 12 + n])
        if zlib.crc32(kind + data) != crc:
            raise ValueError(f"CRC mismatch in {kind}")
        kinds.append(kind)
        if kind == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", data)
        elif kind == b"IDAT":
            idat += data
        i += 12 + n
    if kinds[0] != b"IHDR" or kinds[-1] != b"IEND" or ihdr is None:
        raise ValueError(f"bad chunk order {kinds}")
    w, h, depth, ctype = ihdr[:4]
    channels = {0: 1, 2: 3, 4: 2, 6: 4}[ctype]
    if len(zlib.decompress(idat)) != h * (1 + w * channels * depth // 8):
        raise ValueError("pixel data has the wrong size")
    return w, h, depth, ctype

with tempfile.TemporaryDirectory() as d:
    src, trunc = os.path.join(d, "scan.png"), os.path.join(d, "trunc.png")
    grey16_png(src, 120, 45)
    data = open(src, "rb").read()
    open(trunc, "wb").write(data[:len(data) // 2])

    r = run("render", "--help")
    expect(r.returncode == 0 and "ibex render" in r.stdout and "--style" in r.stdout, "render --help")

    for style in ("colour", "shaded", "grey"):
        out = os.path.join(d, f"out_{style}.png")
        r = run("render", src, out, "--style", style)  # options after operands
        expect(r.returncode == 0, f"render --style {style}: exit {r.returncode}: {r.stderr}")
        try:
            expect(parse_png(out) == (120, 45, 8, 2), f"{style}: output is a 120x45 RGB8 PNG")
        except (ValueError, OSError, KeyError, zlib.error) as e:
            expect(False, f"{style}: output is not a valid PNG: {e}")

    out = os.path.join(d, "small.png")
    r = run("render", "--max-side", "40", src, out)
    try:
        expect(r.returncode == 0 and parse_png(out)[:2] == (40, 15), "--max-side 40: 120x45 -> 40x15")
    except (ValueError, OSError, KeyError, zlib.error) as e:
        expect(False, f"--max-side output invalid: {e}")

    r = run("render", src, out, "--json", "--style", "shaded")
    try:
        o = json.loads(r.stdout)
        expect(r.returncode == 0 and o["width"] == 120 and o["height"] == 45 and o["style"] == "shaded"
               and o["out"] == out, "render --json describes the picture")
    except (ValueError, KeyError) as e:
        expect(False, f"render --json is not the expected JSON: {e}: {r.stdout[:200]}")

    out = os.path.join(d, "never.png")
    r = run("render", trunc, out)
    expect(r.returncode == 1, f"truncated input: exit 1 (got {r.returncode})")
    expect(r.stderr.count("\n") == 1 and "trunc.png" in r.stderr and "truncated" in r.stderr
           and r.stderr.startswith("ibex render:"), "one-line error naming the file: " + r.stderr)
    expect(not os.path.exists(out) and not [f for f in os.listdir(d) if ".tmp-" in f],
           "refused render leaves no output or temporary file")

    expect(run("render").returncode == 2, "no operands: exit 2")
    expect(run("render", src).returncode == 2, "one operand: exit 2")
    expect(run("render", src, out, "extra").returncode == 2, "three operands: exit 2")
    expect(run("render", src, out, "--style", "rainbow").returncode == 2, "unknown style: exit 2")
    expect(run("render", src, out, "--max-side", "0").returncode == 2, "--max-side 0: exit 2")
    expect(run("render", src, os.path.join(d, "out.jpg")).returncode == 2, "OUT not .png: exit 2")
    expect(run("render", "--frobnicate", src, out).returncode == 2, "unknown option: exit 2")
    expect(not os.path.exists(out), "usage errors write nothing")

    r = run("render", src, os.path.join(d, "no", "such", "dir", "o.png"))
    expect(r.returncode == 1 and r.stderr.count("\n") == 1, "unwritable output: exit 1, one line")

finish("render")
