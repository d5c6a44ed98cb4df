#!/usr/bin/env bash
# ibex export / import: a specimen leaves one library as a signed package and enters another
# only when the signer is trusted and every byte is intact; nothing is stored otherwise.
set -u
IBEX=${IBEX:?}
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
cd "$t"
fail=0
check() { if eval "$2"; then :; else echo "FAIL: $1"; fail=1; fi; }
# Rows in a library, read with HDF5's own h5ls (hdf5-tools), independent of IBEX.
count() { h5ls "$1/specimens" | sed -n 's/.*Dataset {\([0-9]*\)\/.*/\1/p'; }

"$IBEX" synth cartridge --firearms 1 --per-firearm 2 --size 96 --seed 7 --out scans >/dev/null
id=$("$IBEX" ingest src.h5 scans --kind cartridge | awk '$1 == "stored" {print $3; exit}')
"$IBEX" node keygen a.key --name labA >/dev/null
"$IBEX" node keygen b.key --name labB >/dev/null
cp a.key.pub peers.txt

check "export exits 0" '"$IBEX" export src.h5 "$id" pkg.x3p --key a.key >/dev/null'
check "package is a readable X3P" '"$IBEX" info pkg.x3p >/dev/null'
check "import of a trusted package stores it" '"$IBEX" import dst.h5 pkg.x3p --trust peers.txt | grep -q "^stored labA:"'
check "second import skips it" '"$IBEX" import dst.h5 pkg.x3p --trust peers.txt | grep -q "^skipped"'

"$IBEX" export src.h5 "$id" pkgb.x3p --key b.key >/dev/null
cp pkg.x3p flipped.x3p
printf '\x5a' | dd of=flipped.x3p bs=1 seek=700 conv=notrunc 2>/dev/null
before=$(count dst.h5)
"$IBEX" import dst.h5 pkgb.x3p --trust peers.txt >/dev/null 2>err1; rc1=$?
"$IBEX" import dst.h5 flipped.x3p --trust peers.txt >/dev/null 2>err2; rc2=$?
after=$(count dst.h5)
check "untrusted signer refused (exit 1, named)" '[ $rc1 -eq 1 ] && grep -q "pkgb.x3p" err1'
check "flipped byte refused (exit 1, named)" '[ $rc2 -eq 1 ] && grep -q "flipped.x3p" err2'
check "library unchanged by refused packages" '[ -n "$before" ] && [ "$before" = "$after" ]'
check "unknown id refused" '! "$IBEX" export src.h5 no-such-id x.x3p --key a.key 2>/dev/null'
check "usage error without --key" '"$IBEX" export src.h5 "$id" y.x3p 2>/dev/null; [ $? -eq 2 ]'
check "usage error without --trust" '"$IBEX" import dst.h5 pkg.x3p 2>/dev/null; [ $? -eq 2 ]'
[ $fail -eq 0 ] && echo "exchange: all checks passed"
exit $fail
