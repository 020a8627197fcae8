"""One call at a time in both eras, interleaved call by call, for bench/mcp.sh: a handshake-era session on
one connection and MCP 2026-07-28 (no session) on another, one `tools/call echo` on each in turn (which
goes first alternates), WARM pairs uncounted, then PAIRS timed. Whatever the machine does to one call of a
pair it does to the other, so the median of the pairs' differences is what the era costs, where runs of one
era after the other differ by more than that from one minute to the next on a shared machine. Prints
`difference_us`, `session_p50_us` and `modern_p50_us` lines; exits 1 if any call failed.
Each era's upstream is opened from its own connection (the session by `initialize` on it; the held
session of MODERN_TOKEN's key, which has none yet, by its first warm call), so both have their stdio
pipes on their connection's event loop. Arguments: port token pairs [modern_token, default token]."""
import http.client
import socket
import statistics
import sys
import time

from era_calls import ENVELOPE, MODERN_HEADERS, PATH, body, headers, open_session

port, token, pairs = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
modern_token = sys.argv[4] if len(sys.argv) > 4 else token
WARM = 300


def connection():
    c = http.client.HTTPConnection("127.0.0.1", port)
    c.connect()
    c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return c


session, modern = connection(), connection()
session_headers = headers(token)
open_session(session, session_headers)
modern_headers = dict(headers(modern_token), **MODERN_HEADERS)


def call(c, call_headers, number, envelope):
    start = time.perf_counter_ns()
    c.request("POST", PATH, body(number, envelope), call_headers)
    reply = c.getresponse()
    data = reply.read()
    elapsed = (time.perf_counter_ns() - start) / 1000
    if reply.status != 200 or b'"result"' not in data:
        print("FAILED: a call answered %d: %r" % (reply.status, data[:200]), file=sys.stderr)
        sys.exit(1)
    return elapsed


timed_session, timed_modern = [], []
for number in range(WARM + pairs):
    if number % 2:
        m = call(modern, modern_headers, number, ENVELOPE)
        s = call(session, session_headers, number, "")
    else:
        s = call(session, session_headers, number, "")
        m = call(modern, modern_headers, number, ENVELOPE)
    if number >= WARM:
        timed_session.append(s)
        timed_modern.append(m)
print("difference_us %.1f" % statistics.median(m - s for s, m in zip(timed_session, timed_modern)))
print("session_p50_us %.0f" % statistics.median(timed_session))
print("modern_p50_us %.0f" % statistics.median(timed_modern))
