#!/usr/bin/env bash
# Part of `make bench`: what one tools/call costs orch in CPU, on a handshake-era session and in
# MCP 2026-07-28 (no session; the key's held upstream session), under the same wrk load: orch's
# user + system time over the run (from /proc) divided by the calls answered. BENCH_ROUNDS rounds
# (default 4), the two eras in turn, each first in every other round, medians reported; a ratio is
# the median of the rounds' own. With BASE_BIN, the session's calls are measured with that binary
# too (an earlier build), for a before/after row. Prints a BENCHMARKS.md section; exits 1 (FAILED,
# no figure) when any call failed (bench/check-wrk.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/check-wrk.sh
orch=${ORCH_BIN:-$PWD/.build/release/orch}
base=${BASE_BIN:-}
seconds=${BENCH_SECONDS:-6}
rounds=${BENCH_ROUNDS:-4}
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
token="orch_$(head -c 32 /dev/urandom | base64 | tr "+/" "-_" | tr -d "=\n")"  # made per run
url=http://127.0.0.1:18085/orgs/bench/servers/echo/mcp
ticks=$(getconf CLK_TCK)

serve() {  # binary -> pid of orch serve on :18085
  cat > "$work/orch.json" <<JSON
{ "version": 1, "gateway": { "listen": "127.0.0.1:18085", "audit": "audit.jsonl" },
  "roles": { "user": { "allow": ["echo"] } },
  "orgs": { "bench": { "members": { "b": "user" }, "servers": { "echo": { "command": "$1", "args": ["sample-server"] } } } },
  "users": { "b": { "keys": [ { "id": "k", "sha256": "$(printf %s $token | sha256sum | cut -d' ' -f1)" } ] } } }
JSON
  ORCH_LOG_LEVEL=warning "$1" serve "$work/orch.json" 2>"$work/orch.log" &
  echo $! > "$work/pid"
  for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:18085/" && break; sleep 0.1; done
}
cpu() { awk -v t="$ticks" '{print ($14 + $15) / t}' "/proc/$(cat "$work/pid")/stat"; }
# The upstream sample servers' CPU (orch's children: the session's and the held leg's), in seconds.
upstream_cpu() {
  local total=0 child
  for child in $(pgrep -P "$(cat "$work/pid")"); do
    total=$(awk -v t="$ticks" -v sum="$total" '{print sum + ($14 + $15) / t}' "/proc/$child/stat")
  done
  echo "$total"
}
session() {
  curl -s -D - -o /dev/null -X POST "$url" -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
    -H 'Accept: application/json, text/event-stream' \
    -d '{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}' \
    | tr -d '\r' | awk 'tolower($1) == "mcp-session-id:" {print $2}'
}
# label session-or-modern -> "calls/s orch-us upstream-us wrk-us" (CPU per call) appended to $work/LABEL
measure() {
  local before after up_before up_after out=$work/$1.wrk TIMEFORMAT='%U %S'
  before=$(cpu); up_before=$(upstream_cpu)
  if [ "$2" = modern ]; then
    { time MCP_MODERN=1 MCP_TOKEN=$token wrk -t2 -c16 -d"${seconds}s" -s bench/mcp-call.lua "$url" > "$out"; } 2> "$work/wrk.time"
  else
    { time MCP_SESSION=$2 MCP_TOKEN=$token wrk -t2 -c16 -d"${seconds}s" -s bench/mcp-call.lua "$url" > "$out"; } 2> "$work/wrk.time"
  fi
  after=$(cpu); up_after=$(upstream_cpu)
  require_clean "$out"
  local requests rps wrk_user wrk_system
  requests=$(awk '/requests in/ {print $1}' "$out")
  rps=$(sed -n 's/^Requests\/sec: *//p' "$out")
  read -r wrk_user wrk_system < <(tail -1 "$work/wrk.time")  # time's line comes after anything wrk wrote there
  python3 -c "print('%s %.1f %.1f %.1f' % ($rps, ($after - $before) * 1e6 / $requests, ($up_after - $up_before) * 1e6 / $requests,
    ($wrk_user + $wrk_system) * 1e6 / $requests))" >> "$work/$1"
}

serve "$orch"
sid=$(session)
MCP_MODERN=1 MCP_TOKEN=$token wrk -t1 -c1 -d1s -s bench/mcp-call.lua "$url" > /dev/null  # opens the held session
# The session's first in odd rounds, 2026-07-28's in even ones: neither always runs after the other.
for round in $(seq "$rounds"); do
  if [ $((round % 2)) = 1 ]; then measure legacy "$sid"; measure modern modern
  else measure modern modern; measure legacy "$sid"; fi
done
kill "$(cat "$work/pid")"; wait "$(cat "$work/pid")" 2>/dev/null || true
if [ -n "$base" ]; then
  serve "$base"
  sid=$(session)
  for _ in $(seq "$rounds"); do measure base "$sid"; done
  kill "$(cat "$work/pid")"; wait "$(cat "$work/pid")" 2>/dev/null || true
fi

median() { python3 -c "import statistics, sys; print('%.${2}f' % statistics.median(float(l.split()[$1]) for l in open(sys.argv[1])))" "$3"; }
legacy_rps=$(median 0 0 "$work/legacy"); legacy_us=$(median 1 1 "$work/legacy")
modern_rps=$(median 0 0 "$work/modern"); modern_us=$(median 1 1 "$work/modern")
legacy_up=$(median 2 1 "$work/legacy"); legacy_wrk=$(median 3 1 "$work/legacy")
modern_up=$(median 2 1 "$work/modern"); modern_wrk=$(median 3 1 "$work/modern")
# The ratios are the medians of each round's own (the two eras of a round run back to back, so a
# drift of the machine's speed between rounds cancels out); the rounds' range is shown beside them.
pairs() {  # column -> "median min max" of modern/legacy over the rounds
  python3 - "$1" "$work/legacy" "$work/modern" <<'PY'
import statistics, sys
column = int(sys.argv[1])
legacy = [float(line.split()[column]) for line in open(sys.argv[2])]
modern = [float(line.split()[column]) for line in open(sys.argv[3])]
ratios = [m / l for l, m in zip(legacy, modern)]
print('%.2f %.2f %.2f' % (statistics.median(ratios), min(ratios), max(ratios)))
PY
}
read -r ratio ratio_min ratio_max <<< "$(pairs 0)"
read -r cpu_ratio cpu_min cpu_max <<< "$(pairs 1)"
read -r up_ratio up_min up_max <<< "$(pairs 2)"
read -r wrk_ratio _ _ <<< "$(pairs 3)"
base_row=""
if [ -n "$base" ]; then
  base_rps=$(median 0 0 "$work/base"); base_us=$(median 1 1 "$work/base")
  base_up=$(median 2 1 "$work/base"); base_wrk=$(median 3 1 "$work/base")
  base_row="| session, the earlier build (\`BASE_BIN\`: $("$base" --version 2>/dev/null | head -1)) | $base_rps | $base_us | $base_up | $base_wrk | this build's session: **$(python3 -c "print('%.2f' % ($legacy_rps / $base_rps))")×** the calls/s, **$(python3 -c "print('%.2f' % ($legacy_us / $base_us))")×** the CPU |"
fi

cat <<MD
<!-- eras:start -->
## MCP eras: one tools/call in CPU, handshake-era session against 2026-07-28

Command: \`bench/era-cost.sh\` (in \`make bench\`), $(date -u +%Y-%m-%d), release build. \`tools/call echo\` through orch to
the stdio sample server under \`wrk -t2 -c16 -d${seconds}s\`${MCP_DELAY_MS:+ (each connection pausing $MCP_DELAY_MS ms after each reply)} (\`bench/mcp-call.lua\`; \`MCP_MODERN\` for 2026-07-28: no
session, the envelope and routing headers on every call), the two eras in turn (each first in every other round), $rounds rounds, medians (a ratio is the median of the rounds' own). CPU is orch's
user + system time over the run (\`/proc/PID/stat\`) divided by the calls answered; the upstream's is its sample servers'
(orch's children), wrk's is bash's \`time\` of it. Every call of every run answered
200 with a result. Machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr).
With \`BASE_BIN\`, the earlier build's session rounds run after this build's, not in turn with them.

| calls | calls/s | orch CPU per call (µs) | upstream's (µs) | wrk's (µs) | |
| --- | --- | --- | --- | --- | --- |
| on a session (2025-06-18) | $legacy_rps | $legacy_us | $legacy_up | $legacy_wrk | |
| MCP 2026-07-28 | $modern_rps | $modern_us | $modern_up | $modern_wrk | **${ratio}×** the session's calls/s (rounds: $ratio_min–$ratio_max), **${cpu_ratio}×** its CPU (rounds: $cpu_min–$cpu_max; target: within 10%); the upstream's **${up_ratio}×** (rounds: $up_min–$up_max), wrk's **${wrk_ratio}×** |
$base_row
<!-- eras:end -->
MD
