#!/usr/bin/env python3
"""Writes the small seed corpus in corpus/x3p/ (committed; rerun to regenerate). Each file is a
few hundred bytes: every DataType, valid.bin, a subfolder, a profile, a DTD, stored members."""
import hashlib, os, struct, zipfile

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "x3p")

def x3p(name, nx=4, ny=3, dtype="D", prefix="", valid=False, feature="SUR", doctype="",
        method=zipfile.ZIP_DEFLATED):
    fmt = {"D": "d", "F": "f", "I": "h", "L": "i"}[dtype]
    vals = [(i % 5) * (1e-7 if dtype in "DF" else 3) for i in range(nx * ny)]
    if dtype in "IL":
        vals = [int(v) for v in vals]
    data = struct.pack("<%d%s" % (nx * ny, fmt), *vals)
    vb = bytes([0b10110111]) * ((nx * ny + 7) // 8)
    vlink = (f"<ValidPointsLink>bindata/valid.bin</ValidPointsLink><MD5ChecksumValidPoints>"
             f"{hashlib.md5(vb).hexdigest()}</MD5ChecksumValidPoints>") if valid else ""
    zinc = "1e-9" if dtype in "IL" else "1"
    xml = (f'<?xml version="1.0"?>{doctype}<p:ISO5436_2 xmlns:p="http://www.opengps.eu/2008/ISO5436_2">'
           f"<Record1><Revision>ISO5436 - 2000</Revision><FeatureType>{feature}</FeatureType><Axes>"
           "<CX><AxisType>I</AxisType><Increment>1e-06</Increment></CX>"
           "<CY><AxisType>I</AxisType><Increment>1e-06</Increment></CY>"
           f"<CZ><AxisType>A</AxisType><DataType>{dtype}</DataType><Increment>{zinc}</Increment></CZ>"
           "</Axes></Record1><Record2><Date>2024-01-01T00:00:00</Date><Instrument><Manufacturer>A"
           "</Manufacturer><Model>B</Model><Serial>C</Serial><Version>D</Version></Instrument>"
           "<CalibrationDate>2024-01-01T00:00:00</CalibrationDate><ProbingSystem><Type>Software</Type>"
           "<Identification>x</Identification></ProbingSystem></Record2><Record3><MatrixDimension>"
           f"<SizeX>{nx}</SizeX><SizeY>{ny}</SizeY><SizeZ>1</SizeZ></MatrixDimension><DataLink>"
           "<PointDataLink>bindata/data.bin</PointDataLink><MD5ChecksumPointData>"
           f"{hashlib.md5(data).hexdigest()}</MD5ChecksumPointData>{vlink}</DataLink></Record3>"
           "<Record4><ChecksumFile>md5checksum.hex</ChecksumFile></Record4></p:ISO5436_2>").encode()
    with zipfile.ZipFile(os.path.join(OUT, name), "w", method) as z:
        z.writestr(prefix + "main.xml", xml)
        z.writestr(prefix + "bindata/data.bin", data)
        if valid:
            z.writestr(prefix + "bindata/valid.bin", vb)
        z.writestr(prefix + "md5checksum.hex", hashlib.md5(xml).hexdigest() + " *main.xml\n")

os.makedirs(OUT, exist_ok=True)
x3p("double.x3p")
x3p("float.x3p", dtype="F")
x3p("int16-valid.x3p", dtype="I", valid=True)
x3p("int32.x3p", dtype="L", valid=True)
x3p("subfolder.x3p", prefix="scan/")
x3p("profile.x3p", feature="PRF", ny=1)
x3p("doctype.x3p", doctype='<!DOCTYPE a [<!ENTITY b "c">]>')
x3p("stored.x3p", method=zipfile.ZIP_STORED)
