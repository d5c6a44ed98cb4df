#!/bin/bash
# ibex synth --lib: the library it writes holds exactly the rows and
# surfaces that 'ibex synth --out' + 'ibex ingest --manifest' give (compared field by field
# and surface by surface with libtool dump), for cartridges and bullets; a rerun skips what
# is stored; a run killed at random moments (kill -9) leaves a library that opens, and a
# rerun completes it to the same content as an uninterrupted run; usage errors.
# Usage: synth_lib.sh LIBTOOL [SEED]
set -u
IBEX=${IBEX:?IBEX must name the ibex binary}
tool=${1:?libtool path}
seed=${2:-$RANDOM}
echo "seed $seed (rerun: $0 $tool $seed)"
RANDOM=$seed
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail=0
no() { echo "FAIL: $*" >&2; fail=1; }

# --- cartridges: direct library == files + ingest ---
"$IBEX" synth cartridge --firearms 3 --per-firearm 2 --size 64 --seed 42 --lib "$T/direct.h5" >"$T/out.txt" || no "synth --lib"
grep -q "stored 6 breech-face scans" "$T/out.txt" || no "summary: $(cat "$T/out.txt")"
"$IBEX" synth cartridge --firearms 3 --per-firearm 2 --size 64 --seed 42 --out "$T/files" >/dev/null || no "synth --out"
"$IBEX" ingest "$T/ingested.h5" --manifest "$T/files/MANIFEST.tsv" >/dev/null || no "ingest"
"$tool" dump "$T/direct.h5" >"$T/a.txt" || no "dump direct"
"$tool" dump "$T/ingested.h5" >"$T/b.txt" || no "dump ingested"
[ "$(wc -l <"$T/a.txt")" -eq 6 ] || no "direct library has $(wc -l <"$T/a.txt") rows, expected 6"
diff "$T/a.txt" "$T/b.txt" >&2 || no "synth --lib rows or surfaces differ from synth --out + ingest"

# rerun: nothing new, nothing duplicated
"$IBEX" synth cartridge --firearms 3 --per-firearm 2 --size 64 --seed 42 --lib "$T/direct.h5" --json >"$T/re.json" || no "rerun"
grep -q '"stored": 0' "$T/re.json" || no "rerun stored something: $(cat "$T/re.json")"
grep -q '"skipped_existing": 6' "$T/re.json" || no "rerun did not skip 6"
[ "$("$tool" count "$T/direct.h5")" = 6 ] || no "count after rerun"

# stage 1 finds a stored casing itself first
"$IBEX" index "$T/direct.h5" >/dev/null || no "index"
top=$("$IBEX" query --stage1-only --csv --top 1 "$T/direct.h5" "$T/files/F02/F02-1.x3p" | sed -n 2p | cut -d, -f4)
[ "$top" = "synth-s42:F02-1" ] || no "stage-1 top hit of F02-1 is '$top'"

# --- bullets ---
"$IBEX" synth bullet --barrels 2 --bullets-per-barrel 2 --lands 3 --size 64 --seed 7 --lib "$T/bd.h5" >/dev/null || no "bullet --lib"
"$IBEX" synth bullet --barrels 2 --bullets-per-barrel 2 --lands 3 --size 64 --seed 7 --out "$T/bf" >/dev/null || no "bullet --out"
"$IBEX" ingest "$T/bi.h5" --manifest "$T/bf/MANIFEST.tsv" >/dev/null || no "bullet ingest"
"$tool" dump "$T/bd.h5" >"$T/c.txt" && "$tool" dump "$T/bi.h5" >"$T/d.txt" || no "bullet dumps"
[ "$(wc -l <"$T/c.txt")" -eq 12 ] || no "bullet library rows"
diff "$T/c.txt" "$T/d.txt" >&2 || no "bullet synth --lib differs from synth --out + ingest"

# --- killed at random moments, then completed by a rerun ---
args=(synth cartridge --firearms 3000 --per-firearm 2 --size 32 --seed 9 --threads 2 --no-sync)
"$IBEX" "${args[@]}" --lib "$T/ref.h5" >/dev/null || no "reference run"
"$tool" dump "$T/ref.h5" >"$T/ref.txt" || no "dump ref"
for k in 1 2 3; do
    "$IBEX" "${args[@]}" --lib "$T/k.h5" >/dev/null 2>&1 &
    pid=$!
    sleep "$((RANDOM % 6 + 1)).$((RANDOM % 10))"
    kill -9 $pid 2>/dev/null
    wait $pid 2>/dev/null
    n=$("$tool" count "$T/k.h5" 2>/dev/null) || n=absent
    [ "$n" = absent ] && [ ! -e "$T/k.h5" ] && continue # killed before the library existed
    [ "$n" = absent ] && no "kill $k: library does not open"
    echo "kill $k: $n specimens committed"
done
"$IBEX" "${args[@]}" --lib "$T/k.h5" >/dev/null || no "completing rerun"
"$tool" dump "$T/k.h5" >"$T/k.txt" || no "dump completed"
diff "$T/ref.txt" "$T/k.txt" >/dev/null || no "killed + rerun library differs from an uninterrupted run"

# --- full disk (ulimit -f, about 9 MB: room for one commit of 2,048 scans): exit 1 naming
# the library, which opens with whole commits only; a rerun completes it ---
( ulimit -f 9000; exec "$IBEX" "${args[@]}" --lib "$T/full.h5" ) >/dev/null 2>"$T/full.err"
rc=$?
[ $rc -eq 1 ] || no "full disk: exit $rc, expected 1"
grep -q "full.h5.*File too large" "$T/full.err" || no "full disk: no clear error: $(cat "$T/full.err")"
[ -e "$T/full.h5-journal" ] && no "full disk: journal left behind"
n=$("$tool" count "$T/full.h5") || no "full disk: library does not open"
echo "full disk: $n specimens committed"
[ $((n % 2048)) -eq 0 ] && [ "$n" -lt 6000 ] || no "full disk: $n rows is not whole commits of 2048"
"$IBEX" "${args[@]}" --lib "$T/full.h5" >/dev/null || no "rerun after the full disk"
"$tool" dump "$T/full.h5" >"$T/full.txt" || no "dump full"
diff "$T/ref.txt" "$T/full.txt" >/dev/null || no "full disk + rerun differs from an uninterrupted run"

# --- usage ---
"$IBEX" synth cartridge --out "$T/x" --lib "$T/x.h5" >/dev/null 2>&1
[ $? -eq 2 ] || no "--out with --lib is not a usage error"
"$IBEX" synth cartridge --firearms 2 >/dev/null 2>&1
[ $? -eq 2 ] || no "neither --out nor --lib is not a usage error"
echo "not a library" >"$T/text.h5"
"$IBEX" synth cartridge --firearms 1 --per-firearm 1 --size 32 --lib "$T/text.h5" >/dev/null 2>"$T/err.txt"
[ $? -eq 1 ] && grep -q "not an HDF5 file" "$T/err.txt" || no "non-library --lib: $(cat "$T/err.txt")"

[ $fail -eq 0 ] && echo "synth --lib: all checks passed"
exit $fail
