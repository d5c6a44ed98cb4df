#!/bin/sh
# ibex compare on bullets: two bullet directories (Hamby 44 barrel 1, bullets 1 and 2) give
# identification at phase 4 with --json; bad operands give the documented exit codes.
# Skips (77) without the real data.
set -u
D="${IBEX_DATA:-${IBEX_DATA_DEFAULT:-}}/bullet/hamby44"
[ -d "$D" ] || { echo "SKIP: no real data at $D"; exit 77; }
T=$(mktemp -d) || exit 1
trap 'rm -rf "$T"' EXIT
mkdir "$T/b1" "$T/b2" "$T/empty"
ln -s "$D"/Barrel_1-Bullet_1-Land_*.x3p "$T/b1/"
ln -s "$D"/Barrel_1-Bullet_2-Land_*.x3p "$T/b2/"
fail=0
out=$("$IBEX" compare --json "$T/b1" "$T/b2"); rc=$?
[ $rc -eq 0 ] || { echo "bullets: exit $rc"; fail=1; }
echo "$out" | grep -q '"verdict": "identification"' || { echo "bullets: no identification"; fail=1; }
echo "$out" | grep -q '"best_phase": 4' || { echo "bullets: wrong phase"; fail=1; }
out=$("$IBEX" compare "$T/b1" "$T/b2" --png "$T/pairs.png"); rc=$?
# --png: a PNG file (magic bytes) with one row of strips per pair of the best phase (6 pairs:
# height 6 * 57 + 5 * 10 + 12 = 404 px, read from the IHDR chunk).
magic=$(od -An -tx1 -N8 "$T/pairs.png" 2>/dev/null | tr -d ' ')
[ "$magic" = "89504e470d0a1a0a" ] || { echo "png: not a PNG"; fail=1; }
hgt=$(od -An -tu1 -j20 -N4 "$T/pairs.png" | awk '{print $1*16777216+$2*65536+$3*256+$4}')
[ "$hgt" = "404" ] || { echo "png: height $hgt, expected 404"; fail=1; }
echo "$out" | grep -q '^verdict: identification' || { echo "text: no verdict line"; fail=1; }
echo "$out" | grep -q '^best phase: 4' || { echo "text: no best phase"; fail=1; }
# Land to land: B1-L4 vs B2-L2 (same land class AD) identification; B1-L4 vs B2-L4
# (different lands) elimination; E vs X (same barrel-7 land, scanned apart) never elimination.
out=$("$IBEX" compare --json "$D/Barrel_1-Bullet_1-Land_4.x3p" "$D/Barrel_1-Bullet_2-Land_2.x3p")
echo "$out" | grep -q '"verdict": "identification"' || { echo "B1-L4 vs B2-L2: not identification"; fail=1; }
out=$("$IBEX" compare --json "$D/Barrel_1-Bullet_1-Land_4.x3p" "$D/Barrel_1-Bullet_2-Land_4.x3p")
echo "$out" | grep -q '"verdict": "elimination"' || { echo "B1-L4 vs B2-L4: not elimination"; fail=1; }
out=$("$IBEX" compare --json "$D/Unknown-Bullet_E-Land_1.x3p" "$D/Unknown-Bullet_X-Land_1.x3p")
echo "$out" | grep -q '"verdict": "elimination"' && { echo "E vs X: elimination"; fail=1; }
# Empty directory: refused (1); one list missing: usage (2); help: 0.
"$IBEX" compare "$T/b1" "$T/empty" 2>/dev/null; [ $? -eq 1 ] || { echo "empty dir: wrong exit"; fail=1; }
"$IBEX" compare --lands-a "$D/Unknown-Bullet_E-Land_1.x3p" 2>/dev/null; [ $? -eq 2 ] || { echo "lands-a only: wrong exit"; fail=1; }
"$IBEX" compare --kind bullet --help >/dev/null; [ $? -eq 0 ] || { echo "help: wrong exit"; fail=1; }
# A file that is not a scan, as a land: a clear error, exit 1, no crash.
echo "not a scan" > "$T/bad.x3p"
"$IBEX" compare --kind bullet "$T/bad.x3p" "$D/Unknown-Bullet_E-Land_1.x3p" >/dev/null 2>"$T/err"
rc=$?; [ $rc -eq 1 ] || { echo "bad land: exit $rc"; fail=1; }
grep -q "bad.x3p" "$T/err" || { echo "bad land: message does not name the file"; fail=1; }
# A profile (one row) and a too-narrow crop, made with ibex convert: unsuitable, exit 1.
L1="$D/Barrel_1-Bullet_1-Land_1.x3p"
"$IBEX" convert --crop 0,200,1515,1 "$L1" "$T/prf.x3p" >/dev/null 2>&1
"$IBEX" convert --crop 0,0,150,422 "$L1" "$T/narrow.x3p" >/dev/null 2>&1
for f in prf narrow; do
  out=$("$IBEX" compare --kind bullet --json "$T/$f.x3p" "$L1" 2>"$T/err"); rc=$?
  [ $rc -eq 1 ] || { echo "$f: exit $rc"; fail=1; }
  echo "$out" | grep -q '"verdict": "unsuitable"' || { echo "$f: not unsuitable"; fail=1; }
  grep -q "$f.x3p" "$T/err" || { echo "$f: message does not name the file"; fail=1; }
done
# A bullet whose other land is a profile: the bad land is skipped with a warning and the
# single usable land gives inconclusive (exit 0).
mkdir "$T/b3"
ln -s "$L1" "$T/b3/"
cp "$T/prf.x3p" "$T/b3/Barrel_1-Bullet_1-Land_2.x3p"
out=$("$IBEX" compare --json "$T/b3" "$T/b2" 2>"$T/err"); rc=$?
[ $rc -eq 0 ] || { echo "one usable land: exit $rc"; fail=1; }
echo "$out" | grep -q '"verdict": "inconclusive"' || { echo "one usable land: not inconclusive"; fail=1; }
grep -q "warning: land unusable" "$T/err" || { echo "one usable land: no warning"; fail=1; }
[ $fail -eq 0 ] && echo "compare bullet: ok"
exit $fail
