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
out=$("$IBEX" compare "$T/b1" "$T/b2"); rc=$?
echo "$out" | grep -q '^verdict: identification' || { echo "text: no verdict line"; fail=1; }
echo "$out" | grep -q '^best phase: 4' || { echo "text: no best phase"; fail=1; }
# Land to land, E vs X (same barrel 7 land): identification.
out=$("$IBEX" compare --json "$D/Unknown-Bullet_E-Land_1.x3p" "$D/Unknown-Bullet_X-Land_1.x3p")
echo "$out" | grep -q '"verdict": "identification"' || { echo "E vs X: not identification"; fail=1; }
# Empty directory: refused (1); one list missing: usage (2); help: 0.
"$IBEX" compare "$T/b1" "$T/empty" 2>/dev/null; [ $? -eq 1 ] || { echo "empty dir: wrong exit"; fail=1; }
"$IBEX" compare --lands-a "$D/Unknown-Bullet_E-Land_1.x3p" 2>/dev/null; [ $? -eq 2 ] || { echo "lands-a only: wrong exit"; fail=1; }
"$IBEX" compare --kind bullet --help >/dev/null; [ $? -eq 0 ] || { echo "help: wrong exit"; fail=1; }
# A file that is not a scan, as a land: a clear error, exit 1, no crash.
echo "not a scan" > "$T/bad.x3p"
"$IBEX" compare --kind bullet "$T/bad.x3p" "$D/Unknown-Bullet_E-Land_1.x3p" >/dev/null 2>"$T/err"
rc=$?; [ $rc -eq 1 ] || { echo "bad land: exit $rc"; fail=1; }
grep -q "bad.x3p" "$T/err" || { echo "bad land: message does not name the file"; fail=1; }
[ $fail -eq 0 ] && echo "compare bullet: ok"
exit $fail
