#!/usr/bin/env python3
"""Writes the small seed corpus in corpus/png/ (committed; rerun to regenerate): every PNG colour
type and bit depth the reader converts, transparency, Adam7 interlacing, pHYs and the IBEX text
chunks. Encoded here with zlib alone, independent of libpng and IBEX."""
import os, struct, zlib

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "png")
ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]

def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

def pack_row(samples, depth):
    """Samples (ints) of one row packed at this bit depth, big-endian."""
    if depth == 16:
        return b"".join(struct.pack(">H", s) for s in samples)
    if depth == 8:
        return bytes(samples)
    out, acc, bits = bytearray(), 0, 0
    for s in samples:
        acc, bits = (acc << depth) | s, bits + depth
        if bits == 8:
            out.append(acc)
            acc, bits = 0, 0
    if bits:
        out.append(acc << (8 - bits))
    return bytes(out)

def png(name, w, h, depth, ctype, pixel, extra=b"", interlace=0, post=b""):
    """pixel(x, y) -> tuple of channel samples."""
    raw = bytearray()
    passes = ADAM7 if interlace else [(0, 0, 1, 1)]
    for x0, y0, dx, dy in passes:
        xs, ys = range(x0, w, dx), range(y0, h, dy)
        if not xs or not ys:
            continue
        for y in ys:
            raw.append(0)
            raw += pack_row([c for x in xs for c in pixel(x, y)], depth)
    data = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, ctype, 0, 0, interlace))
            + extra + chunk(b"IDAT", zlib.compress(bytes(raw), 9)) + post + chunk(b"IEND", b""))
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)

def text(k, v):
    return chunk(b"tEXt", k.encode() + b"\0" + v.encode())

os.makedirs(OUT, exist_ok=True)
for d in (1, 2, 4, 8, 16):
    png(f"grey{d}.png", 7, 5, d, 0, lambda x, y, d=d: ((x * 3 + y) % (1 << d),))
png("grey8-adam7.png", 11, 9, 8, 0, lambda x, y: ((x * 20 + y * 7) % 256,), interlace=1)
png("ga8.png", 6, 4, 8, 4, lambda x, y: (x * 40, 0 if (x + y) % 3 == 0 else 255))
png("ga16.png", 6, 4, 16, 4, lambda x, y: (x * 9000 + y, 65535 * ((x + y) % 2)))
png("rgb8.png", 5, 5, 8, 2, lambda x, y: (x * 50, y * 50, 128))
png("rgb16.png", 4, 3, 16, 2, lambda x, y: (x * 16000, y * 20000, 300))
png("rgba8.png", 4, 4, 8, 6, lambda x, y: (x * 60, 30, y * 60, 0 if x == y else 255))
pal = chunk(b"PLTE", bytes([0, 0, 0, 100, 100, 100, 255, 0, 0, 250, 250, 250]))
png("palette-trns.png", 6, 3, 4, 3, lambda x, y: ((x + y) % 4,), pal + chunk(b"tRNS", bytes([255, 0, 255, 255])))
png("grey8-trns.png", 5, 3, 8, 0, lambda x, y: ((x * 7) % 3 * 100,), chunk(b"tRNS", struct.pack(">H", 100)))
ibex = (text("IBEX zkind", "height") + text("IBEX z scale", "1.5e-10") + text("IBEX z offset", "-4e-6")
        + text("IBEX dx", "6.25e-06") + text("IBEX dy", "6.25e-06") + text("IBEX x0", "0") + text("IBEX y0", "0"))
png("ibex-text.png", 8, 6, 16, 4, lambda x, y: (x * 8000 + y * 100, 0 if x == 7 else 65535),
    chunk(b"pHYs", struct.pack(">IIB", 160000, 160000, 1)) + ibex)
png("text-after-idat.png", 4, 4, 8, 0, lambda x, y: (x * 60,), post=text("IBEX zkind", "intensity")
    + text("IBEX z scale", "0.001") + text("IBEX z offset", "0"))
print("wrote", len(os.listdir(OUT)), "files to", OUT)
