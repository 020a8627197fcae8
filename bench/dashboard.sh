#!/usr/bin/env bash
# Part of `make bench`: the dashboard's Servers page (GET /ui/) with the 20,000-user file loaded,
# for a signed-in user who reaches 5 servers, one request at a time (wrk -t1 -c1) and under load
# (wrk -t2 -c16). Needs bench/out/big.json and tokens.txt (bench/run.sh makes them first).
# Prints a BENCHMARKS.md section on stdout. ORCH_BIN names another orch to measure.
# Exits 1, printing FAILED and no rate, when any request failed (bench/check-wrk.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/check-wrk.sh
out=bench/out
orch=${ORCH_BIN:-.build/release/orch}
duration=${BENCH_SECONDS:-10}
port=18095
[ -f "$out/big.json" ] || python3 bench/gen_policy.py "$out/big.json" "$out/tokens.txt"
token=$(sed -n 1p "$out/tokens.txt")   # user u000-000, key k0: an admin of org000
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
python3 - "$out/big.json" "$work/orch.json" "$port" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
doc["gateway"] = {"listen": "127.0.0.1:" + sys.argv[3], "audit": "audit.jsonl"}
json.dump(doc, open(sys.argv[2], "w"))
PY
ORCH_BIN="$PWD/$orch" ORCH_LOG_LEVEL=error $orch serve "$work/orch.json" 2>"$work/orch.log" &
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
base="http://127.0.0.1:$port"
csrf=$(curl -s -c "$work/jar" "$base/ui/signin" | sed -n 's/.*name="csrf" value="\([^"]*\)".*/\1/p' | head -1)
status=$(curl -s -o /dev/null -w '%{http_code}' -b "$work/jar" -c "$work/jar" -H "Origin: $base" \
  --data-urlencode "key=$token" --data-urlencode "csrf=$csrf" "$base/ui/signin")
[ "$status" = 303 ] || { echo "dashboard.sh: sign-in answered $status" >&2; exit 1; }
session=$(awk '$6 == "orch_session" {print $7}' "$work/jar")
servers=$(curl -s -b "orch_session=$session" "$base/ui/" | grep -c 'class="card server"')
sleep 3   # the page lists unlisted servers in the background; let that finish
cookie=(-H "Cookie: orch_session=$session")
wrk -t1 -c1 -d2s "${cookie[@]}" "$base/ui/" >/dev/null
wrk -t1 -c1 -d"${duration}s" --latency "${cookie[@]}" "$base/ui/" > "$work/one.txt"
wrk -t2 -c16 -d"${duration}s" --latency "${cookie[@]}" "$base/ui/" > "$work/load.txt"
require_clean "$work/one.txt" "$work/load.txt"
pct() { awk -v p="$2" '$1 == p {print $2}' "$1"; }
rps() { sed -n 's/^Requests\/sec: *//p' "$1"; }
non2xx=$(cat "$work/one.txt" "$work/load.txt" | sed -n 's/^ *Non-2xx or 3xx responses: *//p' | paste -sd+ | bc 2>/dev/null || true)

cat <<MD
<!-- dashboard:start -->
## Dashboard: the Servers page

Command: \`make bench\` (\`bench/dashboard.sh\`), $(date -u +%Y-%m-%d), release build. orch serves the 20,000-user file
(\`bench/gen_policy.py\`); the signed-in user reaches $servers servers. \`GET /ui/\` with the session cookie: the session
looked up and checked against the running policy, the user's reachable servers decided, the page rendered from its
template (every value escaped). wrk runs on the same 2 cores, over loopback.

| measurement | result | target |
| --- | --- | --- |
| one request at a time (\`wrk -t1 -c1 -d${duration}s\`): p50 / p99 | $(pct "$work/one.txt" 50%) / $(pct "$work/one.txt" 99%) | p99 < 20 ms |
| under load (\`wrk -t2 -c16 -d${duration}s\`): req/s, p50 / p99 | $(rps "$work/load.txt"), $(pct "$work/load.txt" 50%) / $(pct "$work/load.txt" 99%) | |
| non-2xx responses | ${non2xx:-0} | 0 |
<!-- dashboard:end -->
MD
