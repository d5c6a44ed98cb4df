#!/bin/bash
# ibex ingest without --kind: a scan whose metadata states no kind is stored as a cartridge
# case when its grid is square-ish and as a bullet land when one side is at least twice the
# other (the rule 'ibex query' uses), never as 'unknown' (the index skips unknown rows).
# usage: ingest_kind.sh LIBTOOL
set -u
IBEX=${IBEX:?}
tool=$1
work=$(mktemp -d /tmp/ibex_kind.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/scans"
"$tool" mkscans "$work/scans" 1 3 64 || exit 1
"$IBEX" convert "$work/scans/scan_000.x3p" "$work/long.x3p" --crop 0,0,64,20 > /dev/null || exit 1
"$IBEX" ingest "$work/lib.h5" "$work/scans/scan_000.x3p" "$work/long.x3p" > /dev/null || exit 1
got=$("$tool" dump "$work/lib.h5" | cut -f1,2,3 | sort | tr '\t\n' ' ,')
want="long bullet land,scan_000 cartridge breech-face,"
[ "$got" = "$want" ] || { echo "FAIL: kinds '$got', expected '$want'"; exit 1; }
echo "1 passed, 0 failed"
