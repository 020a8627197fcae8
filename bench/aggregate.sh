#!/usr/bin/env bash
# Part of `make bench`: the aggregated endpoint. `tools/call echo` through /orgs/ORG/mcp next to the
# same call through the server's own endpoint, in the same run; and a merged tools/list over ten
# stdio servers, cold (a new session: ten processes start) and warm. Prints a BENCHMARKS.md section.
# Exits 1, printing FAILED and no rate, when any call failed (bench/check-wrk.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/check-wrk.sh
. bench/mcp-session.sh
orch=${ORCH_BIN:-$PWD/.build/release/orch}
duration=${BENCH_SECONDS:-10}
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

token="orch_$(head -c 32 /dev/urandom | base64 | tr "+/" "-_" | tr -d "=\n")"  # made per run
servers=$(for i in $(seq 0 9); do printf '"s%d": { "command": "%s", "args": ["sample-server"] }\n' "$i" "$orch"; done | paste -sd, -)
cat > "$work/orch.json" <<JSON
{ "version": 1, "gateway": { "listen": "127.0.0.1:18085", "audit": "audit.jsonl", "limits": { "maxSessionsPerKey": 64 } },
  "roles": { "user": { "allow": ["*"] } },
  "orgs": { "bench": { "members": { "b": "user" }, "servers": { $servers } } },
  "users": { "b": { "keys": [ { "id": "k", "sha256": "$(printf %s $token | sha256sum | cut -d' ' -f1)" } ] } } }
JSON
ORCH_LOG_LEVEL=warning $orch serve "$work/orch.json" 2>"$work/orch.log" &
for _ in $(seq 100); do curl -s -o /dev/null http://127.0.0.1:18085/healthz && break; sleep 0.1; done

run_wrk() {  # url tool -> wrk output file
  local sid; sid=$(open_session "$1")
  # A first call starts the server behind the aggregated session before the clock runs.
  MCP_SESSION=$sid MCP_TOKEN=$token MCP_TOOL=$2 wrk -t1 -c1 -d1s -s bench/mcp-call.lua "$1" > /dev/null
  MCP_SESSION=$sid MCP_TOKEN=$token MCP_TOOL=$2 wrk -t2 -c16 -d"${duration}s" -s bench/mcp-call.lua "$1" > "$3"
}
server_url=http://127.0.0.1:18085/orgs/bench/servers/s0/mcp
aggregate_url=http://127.0.0.1:18085/orgs/bench/mcp
run_wrk $server_url echo "$work/server.txt"
run_wrk $aggregate_url s0__echo "$work/aggregate.txt"
run_wrk $server_url echo "$work/server2.txt"
require_clean "$work/server.txt" "$work/aggregate.txt" "$work/server2.txt"
lists=$(python3 bench/aggregate_list.py $aggregate_url "$token" 5 50)

rps() { sed -n 's/^Requests\/sec: *//p' "$1"; }
pct() { awk -v k="$2" '$1 == k {print $2}' "$1"; }
server_rps=$(python3 -c "print('%.0f' % ((float('$(rps "$work/server.txt")') + float('$(rps "$work/server2.txt")')) / 2))")
aggregate_rps=$(rps "$work/aggregate.txt")
ratio=$(python3 -c "print('%.2f' % (float('$aggregate_rps') / float('$server_rps')))")
value() { echo "$lists" | awk -v k="$1" '$1 == k {print $2}'; }

cat <<MD
<!-- aggregate:start -->
## Aggregated endpoint: one MCP server for every server of an org

Command: \`make bench\` (\`bench/aggregate.sh\`), $(date -u +%Y-%m-%d), release build. One org of ten stdio servers
(\`orch sample-server\`); wrk (\`bench/mcp-call.lua\`, a new JSON-RPC id per call) runs on the same machine.

| measurement | result | target |
| --- | --- | --- |
| \`tools/call\` through the server's own endpoint (\`wrk -t2 -c16 -d${duration}s\`, mean of a run before and after) | $server_rps calls/s | |
| the same call as \`s0__echo\` through \`/orgs/bench/mcp\` | $aggregate_rps calls/s (p50 / p99 $(pct "$work/aggregate.txt" p50_us) / $(pct "$work/aggregate.txt" p99_us) µs) | ≥ 0.9 × own endpoint: **${ratio}x** |
| failed calls, own / aggregated (not HTTP 200 with a result, or a socket error) | $(wrk_failures "$work/server.txt") / $(wrk_failures "$work/aggregate.txt") | 0 (any other fails the run) |
| merged \`tools/list\` of ten servers, cold: a new session, ten processes start (median of 5) | $(value cold_ms) ms | |
| merged \`tools/list\` of ten servers, warm: the same session again (median of 50) | $(value warm_ms) ms | |
| tools in the merged list | $(value tools) | |
<!-- aggregate:end -->
MD
