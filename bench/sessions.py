#!/usr/bin/env python3
"""Gateway memory per idle MCP session: RSS of `orch serve` (children excluded) before and after
opening N idle sessions to stdio servers. Part of `make bench`.

Usage: sessions.py ORCH_BINARY [N]. Prints a BENCHMARKS.md section.
"""
import hashlib
import http.client
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time

orch, count = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 500
port = 18085
token = "orch_" + secrets.token_urlsafe(32)
work = tempfile.mkdtemp()
policy = {
    "version": 1,
    "gateway": {"listen": "127.0.0.1:%d" % port, "audit": "audit.jsonl",
                "limits": {"maxSessionsPerKey": count + 10, "maxUpstreamProcesses": count + 10}},
    "roles": {"user": {"allow": ["echo"]}},
    "orgs": {"bench": {"members": {"b": "user"}, "servers": {"echo": {"command": orch, "args": ["sample-server"]}}}},
    "users": {"b": {"keys": [{"id": "k", "sha256": hashlib.sha256(token.encode()).hexdigest()}]}},
}
with open(os.path.join(work, "orch.json"), "w") as f:
    json.dump(policy, f)
server = subprocess.Popen([orch, "serve", os.path.join(work, "orch.json")], stderr=subprocess.DEVNULL,
                          env={**os.environ, "ORCH_LOG_LEVEL": "warning"})


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def post(connection, body, session=None):
    headers = {"Authorization": "Bearer " + token, "Content-Type": "application/json",
               "Accept": "application/json, text/event-stream"}
    if session:
        headers["Mcp-Session-Id"] = session
    connection.request("POST", "/orgs/bench/servers/echo/mcp", json.dumps(body), headers)
    response = connection.getresponse()
    response.read()
    return response


try:
    for _ in range(100):
        try:
            http.client.HTTPConnection("127.0.0.1", port, timeout=2).request("GET", "/healthz")
            break
        except OSError:
            time.sleep(0.1)
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    init = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "bench", "version": "1"}}}
    # Warm up: one session and one call, so lazily built state is not counted per session.
    warm = post(connection, init).getheader("Mcp-Session-Id")
    post(connection, {"jsonrpc": "2.0", "method": "notifications/initialized"}, warm)
    post(connection, {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "echo", "arguments": {"text": "x"}}}, warm)
    time.sleep(1)
    before = rss_kib(server.pid)
    started = time.time()
    for _ in range(count):
        session = post(connection, init).getheader("Mcp-Session-Id")
        assert session, "initialize failed"
        post(connection, {"jsonrpc": "2.0", "method": "notifications/initialized"}, session)
    opened = time.time() - started
    time.sleep(2)
    after = rss_kib(server.pid)
    threads = len(os.listdir("/proc/%d/task" % server.pid))
    per = (after - before) / count
    print("""<!-- sessions:start -->
## Gateway memory per idle session

Command: `make bench` (`bench/sessions.py`), %s, release build. %d MCP sessions opened one after
another (initialize + notifications/initialized) on one key to a stdio server (`orch sample-server`),
then left idle; RSS of the `orch serve` process alone (its children excluded) from `/proc/PID/status`.

| measurement | result |
| --- | --- |
| RSS before / after | %.1f MiB / %.1f MiB |
| growth per idle session | **%.1f KiB** |
| gateway threads with %d sessions open | %d |
| time to open %d sessions (each starts a process) | %.1f s |
<!-- sessions:end -->""" % (time.strftime("%Y-%m-%d", time.gmtime()), count, before / 1024, after / 1024, per, count, threads, count, opened))
finally:
    server.terminate()
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()
