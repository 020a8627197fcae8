#!/usr/bin/env bash
# Part of `make bench`: what one tools/call costs orch in instructions (valgrind's callgrind), on a
# handshake-era session and in MCP 2026-07-28 (no session; the key's held upstream session), one call
# at a time on one connection (bench/era_instructions.py): orch serve runs under callgrind, the
# stdio sample server natively; the counters are zeroed after the warm calls and dumped after the
# counted ones. Instruction counts do not move with the machine's load, as CPU time does on this
# shared machine (bench/era-cost.sh). With BASE_BIN, the session's calls are counted with that binary
# too (an earlier build), for a before/after row. Prints a BENCHMARKS.md section; exits 1 when any
# call failed. CALLGRIND_OPTS are passed to callgrind (say "--cache-sim=yes --branch-sim=yes"): every
# event it then counts is written to stderr per call, beside the instructions. With CALLGRIND_KEEP=DIR,
# each run's dump is copied to DIR/LABEL.out (session, modern, sessionbase) for callgrind_annotate.
set -euo pipefail
cd "$(dirname "$0")/.."
orch=${ORCH_BIN:-$PWD/.build/release/orch}
base=${BASE_BIN:-}
calls=${BENCH_CALLS:-1000}
port=18086
for tool in valgrind cc; do
  command -v $tool >/dev/null || { sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo; $sudo apt-get update -qq; $sudo apt-get install -y -qq valgrind gcc; }
done
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
cc -shared -fPIC -O2 -o "$work/sigsuspend.so" bench/valgrind-sigsuspend.c
# Valgrind cannot read the release binary's DWARF 5 debug information: a copy without it keeps the symbols.
strip --strip-debug "$orch" -o "$work/orch"
[ -z "$base" ] || strip --strip-debug "$base" -o "$work/base"
token="orch_$(head -c 32 /dev/urandom | base64 | tr "+/" "-_" | tr -d "=\n")"  # made per run

count() {  # era [binary: orch or base] -> instructions per call
  local binary=$work/${2:-orch} label=$1${2:-}
  mkdir -p "$work/$label"
  cat > "$work/$label/orch.json" <<JSON
{ "version": 1, "gateway": { "listen": "127.0.0.1:$port", "audit": "audit.jsonl" },
  "roles": { "user": { "allow": ["echo"] } },
  "orgs": { "bench": { "members": { "b": "user" }, "servers": { "echo": { "command": "$orch", "args": ["sample-server"] } } } },
  "users": { "b": { "keys": [ { "id": "k", "sha256": "$(printf %s "$token" | sha256sum | cut -d' ' -f1)" } ] } } }
JSON
  (cd "$work/$label" && ORCH_LOG_LEVEL=warning LD_PRELOAD="$work/sigsuspend.so" \
    exec valgrind --tool=callgrind ${CALLGRIND_OPTS:-} --callgrind-out-file="$work/$label/callgrind.out" "$binary" serve orch.json 2>"$work/$label/valgrind.log") &
  local pid=$!
  for _ in $(seq 600); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.1; done
  python3 bench/era_instructions.py "$1" $port "$token" "$calls" "$pid" >/dev/null || { echo "FAILED: a $1 call failed" >&2; exit 1; }
  kill "$pid"; wait "$pid" 2>/dev/null || true
  local dump
  dump=$(ls "$work/$label"/callgrind.out.* | head -1)
  [ -z "${CALLGRIND_KEEP:-}" ] || { mkdir -p "$CALLGRIND_KEEP"; cp "$dump" "$CALLGRIND_KEEP/$label.out"; }
  awk -v n="$calls" -v label="$label" '/^events:/ {split($0, names, " ")}
    /^(summary|totals):/ {if (NF > 2) {line = label ":"; for (i = 2; i <= NF; i++) line = line " " names[i] " " int($i / n); print line > "/dev/stderr"}
      print int($2 / n); exit}' "$dump"
}
session=$(count session)
modern=$(count modern)
ratio=$(python3 -c "print('%.3f' % ($modern / $session))")
base_row=""
if [ -n "$base" ]; then
  before=$(count session base)
  base_row="| on a session, the earlier build (\`BASE_BIN\`: $("$base" --version 2>/dev/null | head -1)) | $before | this build's session: **$(python3 -c "print('%.3f' % ($session / $before))")×**, its 2026-07-28 call: **$(python3 -c "print('%.3f' % ($modern / $before))")×** |"
fi

cat <<MD
<!-- era-instructions:start -->
## MCP eras: one tools/call in instructions

Command: \`bench/era-instructions.sh\` (in \`make bench\`), $(date -u +%Y-%m-%d), release build, $(valgrind --version).
\`orch serve\` under \`valgrind --tool=callgrind\` (the stdio sample server runs natively), one call at a time
on one connection (\`bench/era_instructions.py\`): 300 warm calls, then the counters zeroed and $calls calls counted.
Every call answered 200 with a result. Instructions do not move with the machine's load; CPU time under load
(the section above) does, by ±10% between runs on this shared machine.

| calls | instructions per call | |
| --- | --- | --- |
| on a session (2025-06-18) | $session | |
| MCP 2026-07-28 | $modern | **${ratio}×** the session's (target: within 10%) |
$base_row
<!-- era-instructions:end -->
MD
