#!/bin/bash
# kill -9 'ibex ingest' at random moments, again and again; after each kill the library
# must open, hold every specimen the killed run reported as stored (its stdout), and
# every row must be whole (surface and hash equal to the source file).
# usage: ingest_crash.sh LIBTOOL ITERATIONS [SEED]
set -u
IBEX=${IBEX:?IBEX must name the ibex binary}
tool=$1
iters=$2
seed=${3:-$(( $(date +%s) % 100000 ))}
echo "seed $seed (rerun: $0 $tool $iters $seed)"
RANDOM=$seed
work=$(mktemp -d /tmp/ibex_crash.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/scans"
"$tool" mkscans "$work/scans" 64 "$seed" 180 || exit 1
lib=$work/lib.h5

# How long does a whole ingest take? Kill points are drawn over 1.2 times that.
t0=$(date +%s%N)
"$IBEX" ingest "$work/probe.h5" "$work/scans" > /dev/null || { echo "probe ingest failed"; exit 1; }
t1=$(date +%s%N)
span=$(( (t1 - t0) / 1000000 * 12 / 10 + 20 ))
rm -f "$work/probe.h5"
echo "full ingest takes $(( (t1 - t0) / 1000000 )) ms; kill points drawn in 0..$span ms"

killed=0 journals=0 finished=0 rows_at_kill=
for ((it = 0; it < iters; it++)); do
    log=$work/log.$it
    "$IBEX" ingest "$lib" "$work/scans" > "$log" 2> "$work/err" &
    pid=$!
    delay=$(( RANDOM % span ))
    sleep "$(printf '%d.%03d' $((delay / 1000)) $((delay % 1000)))"
    if kill -9 "$pid" 2>/dev/null; then killed=$((killed + 1)); else finished=$((finished + 1)); fi
    wait "$pid" 2>/dev/null
    if [ -e "$lib-journal" ]; then
        journals=$((journals + 1))
        # Every other time leave the journal for the next writer to roll back (rather
        # than the checking reader), so both recovery paths are exercised.
        if (( journals % 2 == 0 )) && (( it + 1 < iters )) && (( it % 3 != 2 )); then continue; fi
    fi
    rows_at_kill="$rows_at_kill $(grep -c "^stored" "$log")"
    cat "$work"/log.* > "$work/all.log"
    if ! "$tool" check "$lib" "$work/all.log" > "$work/check" 2>&1 && [ -e "$lib" -o -s "$work/all.log" ]; then
        cat "$work/check" "$work/err"
        echo "FAIL: iteration $it, killed after $delay ms (seed $seed)"
        exit 1
    fi
    # Now and then start over, so kills also land while the library is being created.
    if (( it % 3 == 2 )); then rm -f "$lib" "$lib-journal" "$work"/log.* "$lib".tmp-*; fi
done
# Finally an uninterrupted run completes the library.
"$IBEX" ingest "$lib" "$work/scans" > "$work/log.final" || { echo "FAIL: final ingest"; exit 1; }
cat "$work"/log.* > "$work/all.log"
"$tool" check "$lib" "$work/all.log" || exit 1
n=$("$tool" count "$lib")
[ "$n" = 64 ] || { echo "FAIL: final library has $n specimens, not 64"; exit 1; }
echo "stored lines per run: $rows_at_kill"
echo "$iters runs: $killed killed ($journals mid-commit, rolled back on open), $finished finished first"
echo "1 passed, 0 failed"
