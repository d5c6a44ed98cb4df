#!/bin/bash
# A full disk during ingest (ulimit -f): a clear error, exit 1, the library consistent
# and holding exactly what was reported, and a later ingest completes it.
# usage: ingest_fulldisk.sh LIBTOOL
set -u
IBEX=${IBEX:?}
tool=$1
work=$(mktemp -d /tmp/ibex_full.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/a" "$work/b"
"$tool" mkscans "$work/a" 6 1 150 || exit 1
"$tool" mkscans "$work/b" 40 2 200 more_ || exit 1
lib=$work/lib.h5
"$IBEX" ingest "$lib" "$work/a" > "$work/log.0" || exit 1
size=$(stat -c %s "$lib")
# bash counts ulimit -f in 1024-byte blocks: allow about 1.5 MiB more.
( ulimit -f $(( size / 1024 + 1500 )); exec "$IBEX" ingest "$lib" "$work/b" ) > "$work/log.1" 2> "$work/err"
rc=$?
cat "$work/err"
[ "$rc" = 1 ] || { echo "FAIL: exit $rc, expected 1"; exit 1; }
grep -q "lib.h5.*File too large" "$work/err" || { echo "FAIL: no clear 'File too large' error naming the library"; exit 1; }
[ -e "$lib-journal" ] && { echo "FAIL: journal left behind"; exit 1; }
stored=$(grep -c '^stored' "$work/log.1")
n=$("$tool" count "$lib")
echo "stored $stored before the disk filled; library has $n"
[ "$n" = $((6 + stored)) ] || { echo "FAIL: library has $n, reported $((6 + stored))"; exit 1; }
cat "$work"/log.* > "$work/all.log"
"$tool" check "$lib" "$work/all.log" || exit 1
"$IBEX" ingest "$lib" "$work/b" > "$work/log.2" || { echo "FAIL: ingest after the disk was freed"; exit 1; }
[ "$("$tool" count "$lib")" = 46 ] || { echo "FAIL: not 46 after the second ingest"; exit 1; }
cat "$work"/log.* > "$work/all.log"
"$tool" check "$lib" "$work/all.log" || exit 1
echo "1 passed, 0 failed"
