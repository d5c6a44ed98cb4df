#!/usr/bin/env bash
# Load runs against one node with slow, unauthenticated clients alongside the real ones:
# bench_node (bench/bench_node.c) for each endpoint, then one table. Loopback only; each run
# starts and stops its own `ibex node serve`. Records: docs/measurements/node.md.
set -euo pipefail

usage() {
    cat <<'EOF'
Usage: bench/node_load.sh [--build DIR] [--clients N] [--seconds S] [--slow N] [--slow-headers M]
                          [--endpoints "health push query"] [--baseline] [--json FILE]
                          [-- BENCH_NODE_OPTIONS...]

For each endpoint, N real clients for S seconds against a fresh node, with --slow N
connections that announce a 64 MiB push and send one body byte every 10 s and
--slow-headers M that send their header lines one byte every 5 s (from 127.0.0.2); then
one table: the real clients' throughput, latency and answers, and how many slow
connections stayed open and how often the node closed them.

  --build DIR        meson build folder with bench/bench_node and cli/ibex (default: b/ or
                     build/ beside this script's folder)
  --clients N        real clients per run (default 200)
  --seconds S        length of each run (default 60)
  --slow N           slow-body connections (default 8)
  --slow-headers M   slow-header connections (default 8)
  --endpoints LIST   which runs, in order (default "health push query")
  --baseline         also run each endpoint without slow connections, before its slow run
  --json FILE        keep bench_node's JSON lines in FILE
  -- OPTIONS         passed to every bench_node run (e.g. --x3p SCAN.x3p, --lib LIB.h5)
EOF
}

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
build="" clients=200 seconds=60 slow=8 slow_headers=8 endpoints="health push query" baseline=0 json=""
extra=()
while [ $# -gt 0 ]; do
    case "$1" in
    --build) build=$2; shift 2 ;;
    --clients) clients=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --slow) slow=$2; shift 2 ;;
    --slow-headers) slow_headers=$2; shift 2 ;;
    --endpoints) endpoints=$2; shift 2 ;;
    --baseline) baseline=1; shift ;;
    --json) json=$2; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    --) shift; extra=("$@"); break ;;
    *) echo "node_load.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
    esac
done
if [ -z "$build" ]; then
    for d in "$root/b" "$root/build"; do
        if [ -x "$d/bench/bench_node" ]; then build=$d; break; fi
    done
fi
bench="$build/bench/bench_node" ibex="$build/cli/ibex"
if [ -z "$build" ] || [ ! -x "$bench" ] || [ ! -x "$ibex" ]; then
    echo "node_load.sh: no bench/bench_node and cli/ibex in '${build:-b/ or build/}' (ninja -C DIR first)" >&2
    exit 2
fi

lines=$(mktemp)
trap 'rm -f "$lines"' EXIT
runs=0
for e in $endpoints; do
    for s in $([ "$baseline" = 1 ] && echo 0) 1; do
        if [ "$s" = 1 ]; then sb=$slow sh=$slow_headers; else sb=0 sh=0; fi
        echo "node_load: $e, $clients clients, $seconds s, slow $sb + $sh ..." >&2
        # bench_node exits 1 when any request failed: expected here; its JSON line is the record
        out=$("$bench" "$ibex" --endpoint "$e" --clients "$clients" --seconds "$seconds" --slow "$sb" \
            --slow-headers "$sh" "${extra[@]}") || true
        case "$out" in
        '{'*) echo "$out" >>"$lines"; runs=$((runs + 1)) ;;
        *) echo "node_load: the $e run printed no result" >&2 ;;
        esac
    done
done
[ -n "$json" ] && cp "$lines" "$json"

python3 - "$lines" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
head = ["endpoint", "clients", "s", "slow body+hdr", "ok", "errors", "answers", "req/s", "p50 ms",
        "p99 ms", "slow open min/med", "closed by node", "node MiB"]
table = []
for r in rows:
    b, h = r["slow_body"], r["slow_headers"]
    answers = " ".join(f"{k if k != '0' else 'none'}:{v}" for k, v in sorted(r["statuses"].items(), key=lambda kv: int(kv[0])))
    table.append([r["endpoint"], str(r["clients"]), f"{r['seconds']:.0f}",
                  f"{b['connections']}+{h['connections']}", str(r["requests_ok"]), str(r["errors"]), answers,
                  f"{r['throughput_rps']:.1f}", f"{r['p50_ms']:.1f}", f"{r['p99_ms']:.1f}",
                  f"{b['open_min']}/{b['open_median']} + {h['open_min']}/{h['open_median']}",
                  f"{b['closed_by_node']}+{h['closed_by_node']}", f"{r['node_rss_peak_kib'] / 1024:.0f}"])
w = [max(len(x) for x in col) for col in zip(head, *table)]
for line in [head, ["-" * n for n in w]] + table:
    print("  ".join(x.ljust(n) for x, n in zip(line, w)).rstrip())
EOF
[ "$runs" -gt 0 ]
