#!/usr/bin/env bash
# Part of `make bench`: `tools/call echo` through orch (Streamable HTTP → stdio sample-server) and,
# in the same run, through the Python mcp-proxy in front of the same stdio command; plus orch's
# added latency over calling the stdio server directly. orch's session and MCP 2026-07-28 calls run in
# BENCH_ROUNDS rounds (default 4) of BENCH_ROUND_SECONDS each (default 5), the two eras in turn (each
# first in every other round), so that the machine's drift falls on both: medians are reported, and a ratio is the median of the
# rounds' own. Prints a BENCHMARKS.md section.
# Exits 1, printing FAILED and no rate, when any call failed (bench/check-wrk.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/check-wrk.sh
orch=${ORCH_BIN:-$PWD/.build/release/orch}
duration=${BENCH_SECONDS:-10}
rounds=${BENCH_ROUNDS:-4}
round_seconds=${BENCH_ROUND_SECONDS:-5}
venv=.venv-bench
[ -x $venv/bin/mcp-proxy ] || { python3 -m venv $venv; $venv/bin/pip install -q mcp-proxy; }
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

new_token() { echo "orch_$(head -c 32 /dev/urandom | base64 | tr "+/" "-_" | tr -d "=\n")"; }  # made per run
token=$(new_token)
# A key of its own for each round's one-at-a-time 2026-07-28 run and for bench/era_pairs.py's: its first
# call opens the key's held session from that run's one connection, whose event loop the session's stdio
# pipes then share, as a one-at-a-time session run opens its own session (MCP_OPEN). A connection on
# another loop than its upstream's pipes pays two wake-ups of the other loop per call in either era, and
# which loop a connection gets is the accept order's: without this, one era could get them and not the other.
keys="{ \"id\": \"k\", \"sha256\": \"$(printf %s "$token" | sha256sum | cut -d' ' -f1)\" }"
for round in $(seq "$rounds") pairs; do
  declare "token_$round=$(new_token)"
  name="token_$round"
  keys="$keys, { \"id\": \"m$round\", \"sha256\": \"$(printf %s "${!name}" | sha256sum | cut -d' ' -f1)\" }"
done
cat > "$work/orch.json" <<JSON
{ "version": 1, "gateway": { "listen": "127.0.0.1:18083", "audit": "audit.jsonl" },
  "roles": { "user": { "allow": ["echo"] } },
  "orgs": { "bench": { "members": { "b": "user" }, "servers": { "echo": { "command": "$orch", "args": ["sample-server"] } } } },
  "users": { "b": { "keys": [ $keys ] } } }
JSON
ORCH_LOG_LEVEL=warning $orch serve "$work/orch.json" 2>"$work/orch.log" &
$venv/bin/mcp-proxy --port 18084 --host 127.0.0.1 "$orch" sample-server >"$work/proxy.log" 2>&1 &
for port in 18083 18084; do
  for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.1; done
done

# Opens a session: initialize, then notifications/initialized. Prints the session id.
open_session() {
  local url=$1 auth=$2
  local sid
  sid=$(curl -s -D - -o /dev/null -X POST "$url" ${auth:+-H "Authorization: Bearer $auth"} \
    -H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream' \
    -d '{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}' \
    | tr -d '\r' | awk 'tolower($1) == "mcp-session-id:" {print $2}')
  curl -s -o /dev/null -X POST "$url" ${auth:+-H "Authorization: Bearer $auth"} -H "Mcp-Session-Id: $sid" \
    -H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream' \
    -d '{"jsonrpc":"2.0","method":"notifications/initialized"}'
  echo "$sid"
}

# url session token connections -> wrk output file (session "modern": MCP 2026-07-28, no session; "open":
# the one connection opens a session of its own first)
run_wrk() {
  local seconds=${6:-$duration}
  if [ "$2" = modern ]; then
    MCP_MODERN=1 MCP_TOKEN=$3 wrk -t"$(( $4 < 2 ? 1 : 2 ))" -c"$4" -d"${seconds}s" -s bench/mcp-call.lua "$1" > "$5"
  elif [ "$2" = open ]; then
    MCP_OPEN=1 MCP_TOKEN=$3 wrk -t1 -c1 -d"${seconds}s" -s bench/mcp-call.lua "$1" > "$5"
  else
    MCP_SESSION=$2 MCP_TOKEN=$3 wrk -t"$(( $4 < 2 ? 1 : 2 ))" -c"$4" -d"${seconds}s" -s bench/mcp-call.lua "$1" > "$5"
  fi
}
orch_url=http://127.0.0.1:18083/orgs/bench/servers/echo/mcp
proxy_url=http://127.0.0.1:18084/mcp
sid=$(open_session $orch_url $token)
# The first 2026-07-28 call opens the key's held upstream session: before the rounds.
run_wrk $orch_url modern $token 1 "$work/warm.txt" 1
# The eras in turn, the session's first in odd rounds and 2026-07-28's in even ones, so that
# neither always runs after the other (in whatever state the machine is left by the run before).
for round in $(seq "$rounds"); do
  eras="orch modern"
  [ $((round % 2)) = 1 ] || eras="modern orch"
  for era in $eras; do
    if [ $era = orch ]; then run_wrk $orch_url "$sid" $token 16 "$work/orch.$round.txt" "$round_seconds"
    else run_wrk $orch_url modern $token 16 "$work/modern.$round.txt" "$round_seconds"; fi
  done
  # One connection, one call at a time: latency without queueing, each era's upstream opened from it.
  for era in $eras; do
    if [ $era = orch ]; then run_wrk $orch_url open $token 1 "$work/orch1.$round.txt" "$round_seconds"
    else name="token_$round"; run_wrk $orch_url modern "${!name}" 1 "$work/modern1.$round.txt" "$round_seconds"; fi
  done
done
run_wrk $proxy_url "$(open_session $proxy_url "")" "" 16 "$work/proxy.txt"
require_clean "$work/warm.txt" "$work/proxy.txt" "$work"/orch.*.txt "$work"/modern.*.txt "$work"/orch1.*.txt "$work"/modern1.*.txt
direct=$(python3 bench/stdio_direct.py "$orch" 20000)
pairs=${BENCH_PAIRS:-5000}
paired=$(python3 bench/era_pairs.py 18083 "$token" "$pairs" "$token_pairs")

rps() { sed -n 's/^Requests\/sec: *//p' "$1"; }
pct() { awk -v k="$2" '$1 == k {print $2}' "$1"; }
# The median over the rounds of a figure read by `$1` (rps, or pct with a key) from the files of `$2`.
median() {
  local reader=$1 prefix=$2; shift 2
  # Latencies in whole µs (the median of an even count of rounds can fall between two).
  local format="%g"
  [ "$reader" = rps ] || format="%.0f"
  for round in $(seq "$rounds"); do $reader "$work/$prefix.$round.txt" "$@"; done | python3 -c "import statistics, sys; print('$format' % statistics.median(float(l) for l in sys.stdin))"
}
# "median min max" over the rounds of modern's figure over the session's (`$1`: rps or pct p50_us, less `$2`).
ratios() {
  for round in $(seq "$rounds"); do
    if [ "$1" = rps ]; then echo "$(rps "$work/orch.$round.txt") $(rps "$work/modern.$round.txt")"
    else echo "$(($(pct "$work/orch1.$round.txt" p50_us) - $2)) $(($(pct "$work/modern1.$round.txt" p50_us) - $2))"; fi
  done | python3 -c "
import statistics, sys
r = [float(m) / float(l) for l, m in (line.split() for line in sys.stdin)]
print('%.2f %.2f %.2f' % (statistics.median(r), min(r), max(r)))"
}
orch_rps=$(median rps orch); proxy_rps=$(rps "$work/proxy.txt")
ratio=$(python3 -c "print('%.1f' % ($orch_rps / $proxy_rps))")
direct_p50=$(echo "$direct" | awk '$1 == "p50_us" {print $2}')
orch1_p50=$(median pct orch1 p50_us)
added=$((orch1_p50 - direct_p50))
modern_rps=$(median rps modern)
modern_ratio=$(python3 -c "print('%.1f' % ($modern_rps / $proxy_rps))")
read -r modern_vs_legacy rps_min rps_max <<< "$(ratios rps)"
modern1_p50=$(median pct modern1 p50_us)
modern_added=$((modern1_p50 - direct_p50))
read -r added_ratio added_min added_max <<< "$(ratios p50 "$direct_p50")"
paired_difference=$(echo "$paired" | awk '$1 == "difference_us" {print $2}')
paired_ratio=$(python3 -c "print('%.2f' % (($added + $paired_difference) / $added))")
# Failed calls over every round's file of `$1` (require_clean stopped the run at any).
failures() { for f in "$work/$1".*.txt; do wrk_failures "$f"; done | awk '{sum += $1} END {print sum + 0}'; }
ok_calls=$(grep '"decision":"allow"' "$work/audit.jsonl" | grep -c '"tool":"echo"' || true)

cat <<MD
<!-- mcp:start -->
## MCP proxy: tools/call echo through orch and through mcp-proxy

Command: \`make bench\` (\`bench/mcp.sh\`), $(date -u +%Y-%m-%d), release build. Both proxies front the same stdio
command (\`orch sample-server\`) on one MCP session over Streamable HTTP; wrk (\`bench/mcp-call.lua\`, a new
JSON-RPC id per call) runs on the same machine. mcp-proxy $($venv/bin/pip show mcp-proxy 2>/dev/null | awk '/^Version/ {print $2}') (Python), default options, \`-d${duration}s\`.
orch's figures are medians of $rounds rounds of \`-d${round_seconds}s\`, the session's and 2026-07-28's in turn, each first in every other round (a ratio is
the median of the rounds' own, their range beside it).

| measurement | orch | mcp-proxy | target |
| --- | --- | --- | --- |
| calls/s (\`wrk -t2 -c16\`) | $orch_rps | $proxy_rps | orch ≥ 20 × mcp-proxy: **${ratio}x** |
| p50 / p99 under that load (µs) | $(median pct orch p50_us) / $(median pct orch p99_us) | $(pct "$work/proxy.txt" p50_us) / $(pct "$work/proxy.txt" p99_us) | |
| failed calls (not HTTP 200 with a result, or a socket error) | $(($(failures orch) + $(failures orch1))) | $(wrk_failures "$work/proxy.txt") | 0 (any other fails the run) |
| MCP 2026-07-28 calls/s (same load, no session) | $modern_rps | | within 10% of the session's: **${modern_vs_legacy}×** (rounds: $rps_min–$rps_max); vs mcp-proxy **${modern_ratio}x** |
| 2026-07-28 p50 / p99 under that load (µs) | $(median pct modern p50_us) / $(median pct modern p99_us) | | |
| 2026-07-28 failed calls | $(($(failures modern) + $(failures modern1))) | | 0 |

Added latency, one call at a time: orch p50 $orch1_p50 µs (\`wrk -t1 -c1\`, each era's upstream opened from that
connection, so that its pipes share its event loop) against $direct_p50 µs for the same call
written straight to the server's stdin and read from its stdout (\`bench/stdio_direct.py\`, 20,000 calls):
**$added µs added** (target < 100 µs); in MCP 2026-07-28, p50 $modern1_p50 µs: **$modern_added µs added**, **${added_ratio}×** the
session's (rounds: $added_min–$added_max). The eras interleaved call by call instead, one connection each
(\`bench/era_pairs.py\`, $pairs pairs, Python's http.client: p50 $(echo "$paired" | awk '$1 == "session_p50_us" {print $2}') and $(echo "$paired" | awk '$1 == "modern_p50_us" {print $2}') µs), a 2026-07-28
call took **$paired_difference µs** longer than the session's call beside it (the median of the pairs' differences):
**${paired_ratio}×** the session's added latency (target: within 10%). Every allowed call was
audited ($ok_calls audit records).
<!-- mcp:end -->
MD
