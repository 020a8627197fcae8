#!/usr/bin/env bash
# Part of `make bench`: orch's authenticated GET /api/v1/servers under wrk, next to nginx serving
# the same body behind a static bearer-token map; reload time of the 20,000-user file; and that
# reloads under load fail no request. Prints a BENCHMARKS.md section on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
out=bench/out
orch=.build/release/orch
duration=${BENCH_SECONDS:-10}
token=$(sed -n 1p "$out/tokens.txt")   # user u000-000, key k0: an admin of org000
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null; rm -rf "$work"' EXIT

cp "$out/big.json" "$work/orch.json"
python3 - "$work/orch.json" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
doc["gateway"] = {"listen": "127.0.0.1:18080", "audit": "audit.jsonl"}
json.dump(doc, open(sys.argv[1], "w"), indent=2)
PY
ORCH_LOG_LEVEL=warning $orch serve "$work/orch.json" 2>"$work/orch.log" &
for _ in $(seq 100); do curl -sf http://127.0.0.1:18080/readyz >/dev/null && break; sleep 0.1; done
body=$(curl -sf -H "Authorization: Bearer $token" http://127.0.0.1:18080/api/v1/servers)

# nginx: the same body for the same token, 401 otherwise.
printf '%s' "$body" > "$work/servers.json"
cat > "$work/nginx.conf" <<NGINX
worker_processes auto;
pid $work/nginx.pid;
error_log $work/nginx-error.log;
events { worker_connections 1024; }
http {
  access_log off;
  map_hash_bucket_size 128;
  map \$http_authorization \$authorized { "Bearer $token" 1; default 0; }
  server {
    listen 127.0.0.1:18081;
    location = /api/v1/servers {
      if (\$authorized = 0) { return 401; }
      default_type application/json;
      alias $work/servers.json;
    }
  }
}
NGINX
nginx -c "$work/nginx.conf"
sleep 0.3

rps() { sed -n 's/^Requests\/sec: *//p' "$1"; }
latency() { awk '/Latency/ {print $2}' "$1"; }
wrk -t2 -c32 -d"${duration}s" -H "Authorization: Bearer $token" http://127.0.0.1:18080/api/v1/servers > "$work/wrk-orch.txt"
wrk -t2 -c32 -d"${duration}s" -H "Authorization: Bearer $token" http://127.0.0.1:18081/api/v1/servers > "$work/wrk-nginx.txt"
# The floor of the HTTP stack itself: /healthz does no authentication and no policy work.
wrk -t2 -c32 -d"${duration}s" http://127.0.0.1:18080/healthz > "$work/wrk-health.txt"
orch_rps=$(rps "$work/wrk-orch.txt"); nginx_rps=$(rps "$work/wrk-nginx.txt")
ratio=$(python3 -c "print('%.2f' % ($orch_rps / $nginx_rps))")

# Reload time: rewrite the file (a new digest) and time until /readyz reports it.
reload_ms() {
  python3 - "$work/orch.json" <<'PY'
import json, sys, time, urllib.request
path = sys.argv[1]
doc = json.load(open(path))
doc["tests"] = doc.get("tests", [])[:1] * (len(doc.get("tests", [])) % 2 + 1)
data = json.dumps(doc, indent=2)
start = time.time()
open(path + ".tmp", "w").write(data)
import os; os.replace(path + ".tmp", path)
import hashlib
digest = "sha256:" + hashlib.sha256(data.encode()).hexdigest()
while True:
    body = json.load(urllib.request.urlopen("http://127.0.0.1:18080/readyz"))
    if body["policy"] == digest:
        break
    time.sleep(0.005)
print("%.0f" % ((time.time() - start) * 1000))
PY
}
r1=$(reload_ms); r2=$(reload_ms); r3=$(reload_ms)

# Reloads under load: wrk runs while the file is rewritten three times.
wrk -t2 -c32 -d"${duration}s" -H "Authorization: Bearer $token" http://127.0.0.1:18080/api/v1/servers > "$work/wrk-reload.txt" &
wrk_pid=$!
sleep 1; reload_ms >/dev/null; sleep 1; reload_ms >/dev/null; sleep 1; reload_ms >/dev/null
wait $wrk_pid
reload_rps=$(rps "$work/wrk-reload.txt")
non2xx=$(sed -n 's/^ *Non-2xx or 3xx responses: *//p' "$work/wrk-reload.txt"); non2xx=${non2xx:-0}
socket_errors=$(sed -n 's/^ *Socket errors: *//p' "$work/wrk-reload.txt"); socket_errors=${socket_errors:-none}
requests=$(awk '/requests in/ {print $1}' "$work/wrk-reload.txt")

cat <<MD
<!-- gateway:start -->
## Gateway: authenticated GET /api/v1/servers, reloads

Command: \`make bench\` (\`bench/gateway.sh\`), $(date -u +%Y-%m-%d), release build. wrk, orch and nginx share the
machine's cores. orch serves the 20,000-user file; the caller is an admin of one org with 5 servers.
nginx answers the same body for the same token through a \`map\` of \`\$http_authorization\` (401 otherwise).

| measurement | orch | nginx | target |
| --- | --- | --- | --- |
| requests/s (\`wrk -t2 -c32 -d${duration}s\`) | $orch_rps | $nginx_rps | orch ≥ 0.6 × nginx: **${ratio}x** |
| mean latency | $(latency "$work/wrk-orch.txt") | $(latency "$work/wrk-nginx.txt") | |

For scale, orch's unauthenticated \`GET /healthz\` (same server, same middleware, no token, no policy work) ran at
$(rps "$work/wrk-health.txt") requests/s in the same run: the ceiling of the HTTP stack (Hummingbird 2 on SwiftNIO) here.

Reload of the 20,000-user file, from the rename to \`/readyz\` showing the new digest: $r1 ms, $r2 ms, $r3 ms.

Reloads under load: $requests requests in ${duration}s ($reload_rps/s) while the file was replaced three times;
non-2xx responses: $non2xx; socket errors: $socket_errors.
<!-- gateway:end -->
MD
