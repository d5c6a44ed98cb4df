#!/bin/bash
# Readers open and count a library while one writer ingests: every open succeeds,
# counts never go down, and the library checks out afterwards.
# usage: ingest_readers.sh LIBTOOL
set -u
IBEX=${IBEX:?}
tool=$1
work=$(mktemp -d /tmp/ibex_readers.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/scans"
"$tool" mkscans "$work/scans" 60 7 220 || exit 1
lib=$work/lib.h5
"$IBEX" ingest "$lib" "$work/scans/scan_000.x3p" > "$work/log.0" || exit 1
"$IBEX" ingest --jobs 1 "$lib" "$work/scans" > "$work/log.1" 2> "$work/err" &
pid=$!
reads=0 last=0
while kill -0 "$pid" 2>/dev/null; do
    n=$("$tool" count "$lib") || { echo "FAIL: reader could not open during ingest"; kill "$pid"; exit 1; }
    (( n >= last )) || { echo "FAIL: count went down ($last -> $n)"; exit 1; }
    last=$n
    reads=$((reads + 1))
done
wait "$pid" || { cat "$work/err"; echo "FAIL: ingest failed"; exit 1; }
cat "$work"/log.* > "$work/all.log"
"$tool" check "$lib" "$work/all.log" || exit 1
echo "$reads reader opens during the ingest, last count $last"
(( reads >= 2 )) || { echo "FAIL: too few reads overlapped the ingest"; exit 1; }
echo "1 passed, 0 failed"
