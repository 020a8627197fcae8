"""Part of `make bench`: orch replicas behind nginx (samples/nginx/round-robin.conf, no affinity).

`tools/call echo` on one Streamable HTTP session through nginx in front of one and of three
replicas sharing a gateway.stateKey (wrk, bench/mcp-call.lua); what re-creating a session costs on
a replica that did not hold it (its first call, less the same call once held); and what sealing
and opening a session id costs (`orch-bench seal`). Prints a BENCHMARKS.md section; exits 1,
printing FAILED and no rate, when any call failed.

Usage: python3 bench/replicas.py ORCH_BIN ORCH_BENCH_BIN SECONDS
"""
import json
import os
import re
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
orch, orch_bench, seconds = sys.argv[1], sys.argv[2], int(sys.argv[3])
os.environ["ORCH_BIN"] = orch
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
from replica_fixtures import INITIALIZE, USER_TOKEN, Cluster, call, policy, post  # noqa: E402

INITIALIZED = {"jsonrpc": "2.0", "method": "notifications/initialized"}


def document():
    d = policy()
    d["gateway"]["audit"] = "audit.jsonl"  # one file for all replicas, as a shared volume would be
    d["gateway"]["limits"] = {"maxConnectionsPerClient": 1024}  # every connection comes from nginx
    return d


def open_session(url):
    status, headers, body = post(url, INITIALIZE)
    assert status == 200, body
    session = headers["Mcp-Session-Id"]
    assert post(url, INITIALIZED, session=session)[0] == 202
    return session


def wrk(url, session):
    env = dict(os.environ, MCP_SESSION=session, MCP_TOKEN=USER_TOKEN)
    run = subprocess.run(["wrk", "-t2", "-c16", "-d%ds" % seconds, "-s", os.path.join(ROOT, "bench", "mcp-call.lua"), url],
                         env=env, capture_output=True, text=True, check=True)
    out = run.stdout
    failed = int(re.search(r"failed_calls (\d+)", out).group(1))
    failed += sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", out))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if m:
        failed += sum(int(n) for n in m.groups())
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50": int(re.search(r"p50_us (\d+)", out).group(1)),
        "p99": int(re.search(r"p99_us (\d+)", out).group(1)),
        "failed": failed,
    }


def timed(url, session, id):
    start = time.perf_counter()
    status, _, body = post(url, call("echo", {"text": "x"}, id=id), session=session)
    elapsed = (time.perf_counter() - start) * 1000
    assert status == 200 and "result" in body, body
    return elapsed


results = {}
for count in (1, 3):
    cluster = Cluster(document(), count=count)
    try:
        results[count] = wrk(cluster.url(), open_session(cluster.url()))
        if count == 3:
            first, second = cluster.replicas[0], cluster.replicas[1]
            costs, held = [], []
            for index in range(30):
                session = open_session("%s/orgs/acme/servers/notes/mcp" % first.base)
                url = "%s/orgs/acme/servers/notes/mcp" % second.base
                recreated = timed(url, session, 2)
                again = timed(url, session, 3)
                costs.append(recreated - again)
                held.append(again)
            results["recreate"] = (statistics.median(costs), sorted(costs)[int(len(costs) * 0.9)], statistics.median(held))
    finally:
        cluster.close()

seal = subprocess.run([orch_bench, "seal"], capture_output=True, text=True, check=True).stdout
seal_ns = int(re.search(r"seal_ns (\d+)", seal).group(1))
verify_ns = int(re.search(r"verify_ns (\d+)", seal).group(1))
id_length = int(re.search(r"id of (\d+) characters", seal).group(1))

bad = [count for count in (1, 3) if results[count]["failed"]]
if bad:
    for count in bad:
        print("FAILED: %d replica(s): %d failed calls; no rate is reported" % (count, results[count]["failed"]), file=sys.stderr)
    sys.exit(1)

machine = subprocess.run(["bash", "-c", "echo \"$(nproc) cores, $(awk '/MemTotal/ {printf \"%.0f GiB\", $2/1048576}' /proc/meminfo)\""],
                         capture_output=True, text=True).stdout.strip()
nginx = subprocess.run(["bash", "-c", "nginx -v 2>&1 || /usr/sbin/nginx -v 2>&1"], capture_output=True, text=True).stdout.strip().replace("nginx version: ", "")
one, three = results[1], results[3]
median, p90, held = results["recreate"]
print("""<!-- replicas:start -->
## Replicas behind nginx, round-robin

Command: `make bench` (`bench/replicas.py`), %s, release build, %s. nginx (%s) with
`samples/nginx/round-robin.conf` (the replicas' addresses put in) in front of one and of three `orch serve`
replicas sharing a `gateway.stateKey`, each serving `orch sample-server` over stdio; wrk (`bench/mcp-call.lua`,
`-t2 -c16 -d%ds`) calls `tools/call echo` on one Streamable HTTP session, so with three replicas each call
lands on any of them and each replica re-creates the session once. Everything runs on this one machine: three
replicas share its cores with nginx and wrk, so the figure says what round-robin and re-creation cost, not
what three machines would add.

| measurement | 1 replica | 3 replicas | target |
| --- | --- | --- | --- |
| calls/s | %.0f | %.0f | |
| p50 / p99 (µs) | %d / %d | %d / %d | |
| failed calls | %d | %d | 0 (any other fails the run) |

| measurement | result | target |
| --- | --- | --- |
| re-creating a session on a replica that did not hold it: its first call less the same call once held (median / p90 of 30; a stdio server starts, `initialize` is replayed) | %.1f ms / %.1f ms (a held call: %.2f ms) | |
| sealing a session id (`orch-bench seal`, best of 3 × 100,000) | %.2f µs | |
| verifying one (AES-GCM open and the claims read; an id of %d characters) | %.2f µs | < 5 µs |
<!-- replicas:end -->""" % (time.strftime("%Y-%m-%d", time.gmtime()), machine, nginx, seconds,
                           one["rps"], three["rps"], one["p50"], one["p99"], three["p50"], three["p99"], one["failed"], three["failed"],
                           median, p90, held, seal_ns / 1000, id_length, verify_ns / 1000))
