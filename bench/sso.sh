#!/usr/bin/env bash
# Part of `make bench`: what verifying a single sign-on token costs per request. The same orch serves
# GET /api/v1/me under wrk with an orch key, with one RS256 JWT of an auth.oidc issuer (verified once,
# then kept), and with thousands of distinct JWTs (each verified), one after the other in one run;
# the issuer's JWKS is a file beside orch.json, so no network is involved. The RSA key comes from
# openssl, the tokens are signed here. Prints a BENCHMARKS.md section on stdout.
# ORCH_BIN names another orch to measure.
# Exits 1, printing FAILED and no rate, when any request failed (bench/check-wrk.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/check-wrk.sh
orch=${ORCH_BIN:-.build/release/orch}
duration=${BENCH_SECONDS:-10}
port=18090
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

openssl genrsa -out "$work/issuer.pem" 2048 2>/dev/null
key=$("$orch" keys new --user bob --json 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
# orch.json, the issuer's JWKS, and RS256 tokens: one, and $fresh more with distinct claims (so that
# none is a token the gateway verified before), signed here with the key's CRT parameters.
fresh=${SSO_FRESH_TOKENS:-10000}
python3 - "$work" "$key" "$port" "$fresh" <<'PY'
import base64, hashlib, json, re, subprocess, sys, time
work, key, port, fresh = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
def b64(data): return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
text = subprocess.run(["openssl", "rsa", "-in", f"{work}/issuer.pem", "-noout", "-text"], capture_output=True, text=True, check=True).stdout
def number(name):
    block = re.search(name + r":\s*\n((?:\s+[0-9a-f:]+\n)+)", text).group(1)
    return int(re.sub(r"[\s:]", "", block), 16)
n, p, q = number("modulus"), number("prime1"), number("prime2")
dp, dq, qinv = number("exponent1"), number("exponent2"), number("coefficient")
size = (n.bit_length() + 7) // 8
def sign(message):
    # RSASSA-PKCS1-v1_5 with SHA-256 (RFC 8017), by the Chinese remainder theorem.
    digest = bytes.fromhex("3031300d060960864801650304020105000420") + hashlib.sha256(message).digest()
    m = int.from_bytes(b"\x00\x01" + b"\xff" * (size - len(digest) - 3) + b"\x00" + digest, "big")
    m1, m2 = pow(m, dp, p), pow(m, dq, q)
    return (m2 + q * ((qinv * (m1 - m2)) % p)).to_bytes(size, "big")
json.dump({"keys": [{"kty": "RSA", "kid": "bench", "alg": "RS256", "use": "sig", "n": b64(n.to_bytes(size, "big")),
                     "e": b64((65537).to_bytes(3, "big"))}]}, open(f"{work}/jwks.json", "w"))
resource = f"http://127.0.0.1:{port}"
doc = {
    "version": 1,
    "gateway": {"listen": f"127.0.0.1:{port}", "publicURL": resource, "audit": "audit.jsonl"},
    "auth": {"oidc": {"sso": {"issuer": "http://127.0.0.1:1/sso", "jwks": "jwks.json", "scopes": ["mcp"]}}},
    "roles": {"member": {"allow": ["notes"]}},
    "orgs": {"acme": {"members": {"bob": "member"}, "servers": {"notes": {"command": "true"}}}},
    "users": {"bob": {"email": "bob@example.com", "keys": [{"id": "laptop", "sha256": hashlib.sha256(key.encode()).hexdigest()}]}},
}
json.dump(doc, open(f"{work}/orch.json", "w"), indent=2)
header = b64(json.dumps({"alg": "RS256", "typ": "JWT", "kid": "bench"}).encode())
now = int(time.time())
def token(i):
    claims = b64(json.dumps({"iss": "http://127.0.0.1:1/sso", "sub": "u-1", "aud": resource, "iat": now, "exp": now + 3600,
                             "jti": str(i), "email": "bob@example.com", "email_verified": True, "scope": "openid mcp"}).encode())
    return f"{header}.{claims}.{b64(sign(f'{header}.{claims}'.encode()))}"
open(f"{work}/jwt.txt", "w").write(token(0))
open(f"{work}/fresh.txt", "w").write("\n".join(token(i) for i in range(1, fresh + 1)) + "\n")
PY
printf '%s\n' "$key" > "$work/key.txt"
jwt=$(cat "$work/jwt.txt")
sed -n 1p "$work/fresh.txt" > "$work/fresh1.txt"
ORCH_LOG_LEVEL=warning $orch serve "$work/orch.json" 2>"$work/orch.log" &
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
for token in "$key" "$jwt" "$(cat "$work/fresh1.txt")"; do
  status=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $token" "http://127.0.0.1:$port/api/v1/me")
  [ "$status" = 200 ] || { echo "sso.sh: /api/v1/me answered $status" >&2; cat "$work/orch.log" >&2; exit 1; }
done

require_clean "$work"/wrk-*.txt
rps() { sed -n 's/^Requests\/sec: *//p' "$1"; }
latency() { awk '/Latency/ {print $2}' "$1"; }
p50() { awk '$1 == "50%" {print $2}' "$1"; }
# Every row: the same wrk script (bench/tokens.lua), which sends the tokens of a file in turn.
load() {  # load NAME TOKENS-FILE
  TOKENS="$2" THREADS=2 wrk -t2 -c32 -d2s -s bench/tokens.lua "http://127.0.0.1:$port/api/v1/me" >/dev/null
  TOKENS="$2" THREADS=2 wrk -t2 -c32 -d"${duration}s" -s bench/tokens.lua "http://127.0.0.1:$port/api/v1/me" > "$work/wrk-$1.txt"
  TOKENS="$2" THREADS=1 wrk -t1 -c1 -d"${duration}s" --latency -s bench/tokens.lua "http://127.0.0.1:$port/api/v1/me" > "$work/wrk-$1-1.txt"
}
before=$(curl -s "http://127.0.0.1:$port/metrics" | sed -n 's/^orch_jwt_verifications_total{issuer="sso",result="ok"} //p')
load key "$work/key.txt"
echo "$jwt" > "$work/jwt1.txt"
load jwt "$work/jwt1.txt"
load fresh "$work/fresh.txt"
after=$(curl -s "http://127.0.0.1:$port/metrics" | sed -n 's/^orch_jwt_verifications_total{issuer="sso",result="ok"} //p')
non2xx=$(cat "$work"/wrk-*.txt | sed -n 's/^ *Non-2xx or 3xx responses: *//p' | paste -sd+ | bc 2>/dev/null || true)
per_request_us() { python3 -c "print('%.0f' % (2e6 / $(rps "$1")))"; }  # both cores busy: machine-µs per request
cost=$(python3 -c "print('%.0f' % (2e6 / $(rps "$work/wrk-fresh.txt") - 2e6 / $(rps "$work/wrk-key.txt")))")
cached=$(python3 -c "print('%.0f' % (2e6 / $(rps "$work/wrk-jwt.txt") - 2e6 / $(rps "$work/wrk-key.txt")))")

cat <<MD
<!-- sso:start -->
## Single sign-on: a JWT next to a key

Command: \`make bench\` (\`bench/sso.sh\`), $(date -u +%Y-%m-%d), release build. One orch serves \`GET /api/v1/me\`
for the same user, authenticated once by an orch key and once by an RS256 JWT (2048-bit key) of an
\`auth.oidc\` issuer whose JWKS is a file, so each JWT request pays the whole verification (base64url and JSON of
header and claims, the RSA signature, \`iss\`/\`aud\`/\`exp\`/scope checks, the user lookup) and no network.
A token is verified the first time it is shown and then kept (by its SHA-256, until its \`exp\` or the next
reload), so a client that reuses its token pays the verification once. wrk shares the machine's 2 cores with orch.

| measurement | orch key | JWT, verified before | JWT, new each request |
| --- | --- | --- | --- |
| req/s (\`wrk -t2 -c32 -d${duration}s\`) | $(rps "$work/wrk-key.txt") | $(rps "$work/wrk-jwt.txt") | $(rps "$work/wrk-fresh.txt") |
| mean latency under that load | $(latency "$work/wrk-key.txt") | $(latency "$work/wrk-jwt.txt") | $(latency "$work/wrk-fresh.txt") |
| p50, one request at a time (\`wrk -t1 -c1\`) | $(p50 "$work/wrk-key-1.txt") | $(p50 "$work/wrk-jwt-1.txt") | $(p50 "$work/wrk-fresh-1.txt") |
| machine time per request (2 cores ÷ req/s) | $(per_request_us "$work/wrk-key.txt") µs | $(per_request_us "$work/wrk-jwt.txt") µs | $(per_request_us "$work/wrk-fresh.txt") µs |

Verifying a JWT costs about **${cost} µs** of machine time per request more than a key (the last column: ${fresh}
distinct tokens sent in turn, half to each wrk thread: a token comes back only after more than the 4,096 the
gateway keeps, so every request pays a verification). A token verified before, while the policy it was verified
under runs, costs **${cached} µs** more than a key: its SHA-256 finds it as a key's does, and it is answered on the
event loop too. JWT verifications the gateway counted over the run: $((after - before)); non-2xx responses: ${non2xx:-0}.
<!-- sso:end -->
MD
