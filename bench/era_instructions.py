"""One era's calls for bench/era-instructions.sh: on one connection, a session opened (handshake era) or
none (2026-07-28, the key's held upstream session opened by the first call), WARM calls, then callgrind's
counters zeroed, CALLS `tools/call echo` counted, and the counts dumped. Exits 1 if any call failed."""
import http.client
import subprocess
import sys

from era_calls import ENVELOPE, MODERN_HEADERS, PATH, body, headers as call_headers, open_session

era, port, token, calls, pid = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), sys.argv[5]
WARM = 300
connection = http.client.HTTPConnection("127.0.0.1", port)
headers = call_headers(token)
envelope = ""
if era == "modern":
    headers.update(MODERN_HEADERS)
    envelope = ENVELOPE
else:
    open_session(connection, headers)

failed = 0


def run(count, first):
    global failed
    for i in range(count):
        connection.request("POST", PATH, body(first + i, envelope), headers)
        reply = connection.getresponse()
        data = reply.read()
        if reply.status != 200 or b'"result"' not in data:
            failed += 1


run(WARM, 1000)
subprocess.run(["callgrind_control", "-z", pid], check=True, capture_output=True)
run(calls, 1000000)
subprocess.run(["callgrind_control", "-d", pid], check=True, capture_output=True)
print("failed", failed)
sys.exit(1 if failed else 0)
