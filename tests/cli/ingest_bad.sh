#!/bin/bash
# Bad input for ibex ingest: clear one-line errors naming the file, exit 1 (2 for usage),
# libraries left as they were, nothing reported stored that is not.
# usage: ingest_bad.sh LIBTOOL
set -u
IBEX=${IBEX:?}
tool=$1
work=$(mktemp -d /tmp/ibex_bad.XXXXXX)
trap 'rm -rf "$work"' EXIT
fails=0 passes=0
expect() { # expect NAME RC PATTERN -- command...
    local name=$1 want=$2 pat=$3
    shift 4
    "$@" > "$work/out" 2> "$work/err"
    local rc=$?
    if [ "$rc" != "$want" ] || ! grep -qE -- "$pat" "$work/err"; then
        echo "FAIL $name: exit $rc (want $want), stderr:"; cat "$work/err"
        fails=$((fails + 1))
    else
        echo "ok $name: $(head -1 "$work/err")"
        passes=$((passes + 1))
    fi
}
mkdir -p "$work/s" "$work/a" "$work/b"
"$tool" mkscans "$work/s" 4 3 120 || exit 1
"$tool" mkscans "$work/a" 1 4 100 || exit 1
"$tool" mkscans "$work/b" 1 5 100 || exit 1
good=$work/good.h5
"$IBEX" ingest "$good" "$work/s" > /dev/null || exit 1

echo "just some text" > "$work/text.h5"
cp "$work/text.h5" "$work/text.orig"
expect not-hdf5 1 "text.h5: not an HDF5 file" -- "$IBEX" ingest "$work/text.h5" "$work/s"
cmp -s "$work/text.h5" "$work/text.orig" || { echo "FAIL: non-library file was modified"; fails=$((fails + 1)); }

head -c $(( $(stat -c %s "$good") / 2 )) "$good" > "$work/trunc.h5"
expect truncated 1 "trunc.h5: library file is truncated" -- "$IBEX" ingest "$work/trunc.h5" "$work/s"

cp "$good" "$work/newer.h5"
"$tool" bump "$work/newer.h5" || exit 1
expect newer-schema 1 "is newer than this IBEX supports" -- "$IBEX" ingest "$work/newer.h5" "$work/a"
[ "$("$tool" count "$good")" = 4 ] || { echo "FAIL: good library changed"; fails=$((fails + 1)); }

# Same base name, different content: the second id is a duplicate.
expect duplicate-id 1 "duplicate id 'scan_000'" -- "$IBEX" ingest "$work/dup.h5" "$work/a/scan_000.x3p" "$work/b/scan_000.x3p"
grep -c '^stored' "$work/out" | grep -qx 1 || { echo "FAIL: duplicate-id run should store exactly one"; fails=$((fails + 1)); }
[ "$("$tool" count "$work/dup.h5")" = 1 ] || { echo "FAIL: dup.h5 should hold 1"; fails=$((fails + 1)); }

# Same content again: skipped, not an error.
"$IBEX" ingest "$good" "$work/s/scan_001.x3p" > "$work/out" 2> "$work/err"
if [ $? = 0 ] && grep -q '^skipped.*duplicate of row 1' "$work/out"; then passes=$((passes + 1)); echo "ok duplicate-content: skipped"; else echo "FAIL duplicate-content"; cat "$work/out" "$work/err"; fails=$((fails + 1)); fi

# A broken scan among good ones: named, the others stored.
mkdir -p "$work/mixed"
cp "$work/a/scan_000.x3p" "$work/mixed/good.x3p"
head -c 300 "$work/b/scan_000.x3p" > "$work/mixed/broken.x3p"
expect broken-scan 1 "broken.x3p" -- "$IBEX" ingest "$work/mixed.h5" "$work/mixed"
grep -q '^stored.*good' "$work/out" || { echo "FAIL: good scan not stored beside a broken one"; fails=$((fails + 1)); }

expect bad-kind 2 "--kind must be cartridge or bullet" -- "$IBEX" ingest --kind shoe "$work/x.h5" "$work/s"
expect bad-meta 2 "unknown metadata key 'colour'" -- "$IBEX" ingest --meta colour=red "$work/x.h5" "$work/s"
expect no-files 2 "no files given" -- "$IBEX" ingest "$work/x.h5"
[ -e "$work/x.h5" ] && { echo "FAIL: usage errors created a library"; fails=$((fails + 1)); }
expect missing-file 1 "nope.x3p" -- "$IBEX" ingest "$work/x.h5" "$work/nope.x3p"
printf 'a\tb\n1\t2\n' > "$work/m.tsv"
expect bad-manifest 1 "m.tsv: line 1: no relative_path column" -- "$IBEX" ingest "$work/x.h5" --manifest "$work/m.tsv"

echo "$passes passed, $fails failed"
[ "$fails" = 0 ]
