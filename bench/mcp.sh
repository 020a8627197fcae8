#!/usr/bin/env bash
# Part of `make bench`: `tools/call echo` through orch (Streamable HTTP → stdio sample-server) and,
# in the same run, through the Python mcp-proxy in front of the same stdio command; plus orch's
# added latency over calling the stdio server directly. Prints a BENCHMARKS.md section.
# Exits 1, printing FAILED and no rate, when any call failed (bench/check-wrk.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/check-wrk.sh
orch=${ORCH_BIN:-$PWD/.build/release/orch}
duration=${BENCH_SECONDS:-10}
venv=.venv-bench
[ -x $venv/bin/mcp-proxy ] || { python3 -m venv $venv; $venv/bin/pip install -q mcp-proxy; }
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

token="orch_$(head -c 32 /dev/urandom | base64 | tr "+/" "-_" | tr -d "=\n")"  # made per run
cat > "$work/orch.json" <<JSON
{ "version": 1, "gateway": { "listen": "127.0.0.1:18083", "audit": "audit.jsonl" },
  "roles": { "user": { "allow": ["echo"] } },
  "orgs": { "bench": { "members": { "b": "user" }, "servers": { "echo": { "command": "$orch", "args": ["sample-server"] } } } },
  "users": { "b": { "keys": [ { "id": "k", "sha256": "$(printf %s $token | sha256sum | cut -d' ' -f1)" } ] } } }
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

run_wrk() {  # url session token connections -> wrk output file (session "modern": MCP 2026-07-28, no session)
  if [ "$2" = modern ]; then
    MCP_MODERN=1 MCP_TOKEN=$3 wrk -t"$(( $4 < 2 ? 1 : 2 ))" -c"$4" -d"${duration}s" -s bench/mcp-call.lua "$1" > "$5"
  else
    MCP_SESSION=$2 MCP_TOKEN=$3 wrk -t"$(( $4 < 2 ? 1 : 2 ))" -c"$4" -d"${duration}s" -s bench/mcp-call.lua "$1" > "$5"
  fi
}
orch_url=http://127.0.0.1:18083/orgs/bench/servers/echo/mcp
proxy_url=http://127.0.0.1:18084/mcp
run_wrk $orch_url "$(open_session $orch_url $token)" $token 16 "$work/orch.txt"
run_wrk $proxy_url "$(open_session $proxy_url "")" "" 16 "$work/proxy.txt"
# One connection, one call at a time: latency without queueing.
run_wrk $orch_url "$(open_session $orch_url $token)" $token 1 "$work/orch1.txt"
# The same calls in MCP 2026-07-28: the first opens the key's held upstream session.
run_wrk $orch_url modern $token 16 "$work/modern.txt"
run_wrk $orch_url modern $token 1 "$work/modern1.txt"
require_clean "$work/orch.txt" "$work/proxy.txt" "$work/orch1.txt" "$work/modern.txt" "$work/modern1.txt"
direct=$(python3 bench/stdio_direct.py "$orch" 20000)

rps() { sed -n 's/^Requests\/sec: *//p' "$1"; }
pct() { awk -v k="$2" '$1 == k {print $2}' "$1"; }
orch_rps=$(rps "$work/orch.txt"); proxy_rps=$(rps "$work/proxy.txt")
ratio=$(python3 -c "print('%.1f' % ($orch_rps / $proxy_rps))")
direct_p50=$(echo "$direct" | awk '$1 == "p50_us" {print $2}')
orch1_p50=$(pct "$work/orch1.txt" p50_us)
added=$((orch1_p50 - direct_p50))
modern_rps=$(rps "$work/modern.txt")
modern_ratio=$(python3 -c "print('%.1f' % ($modern_rps / $proxy_rps))")
modern_vs_legacy=$(python3 -c "print('%.2f' % ($modern_rps / $orch_rps))")
modern1_p50=$(pct "$work/modern1.txt" p50_us)
modern_added=$((modern1_p50 - direct_p50))
ok_calls=$(grep '"decision":"allow"' "$work/audit.jsonl" | grep -c '"tool":"echo"' || true)

cat <<MD
<!-- mcp:start -->
## MCP proxy: tools/call echo through orch and through mcp-proxy

Command: \`make bench\` (\`bench/mcp.sh\`), $(date -u +%Y-%m-%d), release build. Both proxies front the same stdio
command (\`orch sample-server\`) on one MCP session over Streamable HTTP; wrk (\`bench/mcp-call.lua\`, a new
JSON-RPC id per call) runs on the same machine. mcp-proxy $($venv/bin/pip show mcp-proxy 2>/dev/null | awk '/^Version/ {print $2}') (Python), default options.

| measurement | orch | mcp-proxy | target |
| --- | --- | --- | --- |
| calls/s (\`wrk -t2 -c16 -d${duration}s\`) | $orch_rps | $proxy_rps | orch ≥ 20 × mcp-proxy: **${ratio}x** |
| p50 / p99 under that load (µs) | $(pct "$work/orch.txt" p50_us) / $(pct "$work/orch.txt" p99_us) | $(pct "$work/proxy.txt" p50_us) / $(pct "$work/proxy.txt" p99_us) | |
| failed calls (not HTTP 200 with a result, or a socket error) | $(wrk_failures "$work/orch.txt") | $(wrk_failures "$work/proxy.txt") | 0 (any other fails the run) |
| MCP 2026-07-28 calls/s (same load, no session) | $modern_rps | | within 10% of the session's: **${modern_vs_legacy}×**; vs mcp-proxy **${modern_ratio}x** |
| 2026-07-28 p50 / p99 under that load (µs) | $(pct "$work/modern.txt" p50_us) / $(pct "$work/modern.txt" p99_us) | | |
| 2026-07-28 failed calls | $(wrk_failures "$work/modern.txt") | | 0 |

Added latency, one call at a time: orch p50 $orch1_p50 µs (\`wrk -t1 -c1\`) against $direct_p50 µs for the same call
written straight to the server's stdin and read from its stdout (\`bench/stdio_direct.py\`, 20,000 calls):
**$added µs added** (target < 100 µs); in MCP 2026-07-28, p50 $modern1_p50 µs: **$modern_added µs added**. Every allowed call was
audited ($ok_calls audit records).
<!-- mcp:end -->
MD
