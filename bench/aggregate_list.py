"""Part of `make bench` (bench/aggregate.sh): the time of a merged tools/list on an aggregated
endpoint, cold (a new session: every server behind it starts) and warm (the same session again).
Usage: aggregate_list.py URL TOKEN COLD_RUNS WARM_RUNS; prints `cold_ms MEDIAN`, `warm_ms MEDIAN`
and `tools N`."""
import json
import statistics
import sys
import time
import urllib.request

url, token, cold_runs, warm_runs = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
HEADERS = {"Authorization": "Bearer " + token, "Content-Type": "application/json", "Accept": "application/json, text/event-stream"}


def post(body, session=None, method="POST"):
    headers = dict(HEADERS)
    if session:
        headers["Mcp-Session-Id"] = session
    request = urllib.request.Request(url, data=json.dumps(body).encode() if body else None, headers=headers, method=method)
    with urllib.request.urlopen(request, timeout=60) as response:
        text = response.read()
        return response.headers.get("Mcp-Session-Id"), (json.loads(text) if text else None)


def open_session():
    session, _ = post({"jsonrpc": "2.0", "id": 0, "method": "initialize",
                       "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "bench", "version": "1"}}})
    post({"jsonrpc": "2.0", "method": "notifications/initialized"}, session)
    return session


def timed_list(session):
    start = time.perf_counter()
    _, reply = post({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, session)
    return (time.perf_counter() - start) * 1000, len(reply["result"]["tools"])


cold = []
for _ in range(cold_runs):
    session = open_session()
    ms, tools = timed_list(session)
    cold.append(ms)
    post(None, session, method="DELETE")
    time.sleep(0.5)  # the servers of the ended session stop
session = open_session()
timed_list(session)
warm = [timed_list(session)[0] for _ in range(warm_runs)]
print("cold_ms %.1f" % statistics.median(cold))
print("warm_ms %.2f" % statistics.median(warm))
print("tools %d" % tools)
