#!/usr/bin/env python3
"""Minimal reproductions of the gateway problems `make soak` found (see RELIABILITY.md).
Each starts its own `orch serve` on a free loopback port with the soak's policy, prints what it
saw, and exits 1 while the problem is there, 0 once it is gone.

    ORCH_BIN=.build/release/orch python3 bench/soak/repro.py empty-sse-reply   # ~15 s
    ORCH_BIN=.build/release/orch python3 bench/soak/repro.py inherited-fds     # ~2 s
    ORCH_BIN=.build/release/orch python3 bench/soak/repro.py session-after-sigterm   # ~45 s
    ORCH_BIN=.build/release/orch python3 bench/soak/repro.py json-reply-202     # ~20 s, needs wrk
"""
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import soak  # noqa: E402


def start():
    folder = tempfile.mkdtemp(prefix="orch-repro-")
    with open(os.path.join(folder, "orch.json"), "w") as f:
        json.dump(soak.policy("A"), f)
    gateway = soak.Gateway(folder)
    return gateway, soak.Phase("repro", gateway.port, 60, soak.Stats())


def stop(gateway):
    if gateway.process.poll() is None:
        gateway.process.kill()
        gateway.process.wait()
    time.sleep(0.3)
    soak.kill_marked()


def empty_sse_reply(seconds=15.0, threads=4):
    """POST tools/call with `Accept: text/event-stream`: now and then the answer is HTTP 200
    text/event-stream with an empty body, although the audit log records the call as answered."""
    gateway, phase = start()
    empty, calls = [], [0]
    combo = soak.COMBOS[4]   # bob on acme/notes

    def worker(index):
        rng = random.Random(index)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            client = soak.Client(gateway.port)
            session = soak.Session(phase, client, combo, accept="text/event-stream")
            try:
                session.initialize()
                for _ in range(20):
                    calls[0] += 1
                    session.echo(rng)
                session.delete()
            except soak.Bad as error:
                empty.append("%s\n    %s" % (error.what, error.evidence))
            finally:
                client.close()

    workers = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    stop(gateway)
    print("%d SSE tools/call, %d answered without their reply" % (calls[0], len(empty)))
    for line in empty[:3]:
        print("  " + line)
    return 1 if empty else 0


def inherited_fds():
    """A stdio upstream started while other connections are open inherits the gateway's sockets
    (the listening socket and other clients' connections) and epoll descriptors."""
    gateway, phase = start()
    try:
        others = [soak.raw_socket("127.0.0.3", gateway.port) for _ in range(3)]
        time.sleep(0.2)
        client = soak.Client(gateway.port)
        session = soak.Session(phase, client, soak.COMBOS[4])
        session.initialize()
        time.sleep(0.3)
        found = 0
        for child in soak.children(gateway.pid)[0]:
            fds = []
            for fd in sorted(os.listdir("/proc/%d/fd" % child), key=int):
                try:
                    target = os.readlink("/proc/%d/fd/%s" % (child, fd))
                except OSError:
                    continue
                if int(fd) > 2:
                    fds.append("%s -> %s" % (fd, target))
            print("upstream %s: descriptors beyond 0-2: %s" % (soak.describe([child]), ", ".join(fds) or "none"))
            found += len(fds)
        for sock in others:
            sock.close()
        client.close()
        return 1 if found else 0
    finally:
        stop(gateway)


def session_after_sigterm():
    """For ~3 s after SIGTERM (while the gateway waits for an upstream's stop sequence) the gateway
    still accepts connections and opens sessions; such a session is never ended: a GET stream on
    it keeps the gateway from exiting, and its upstream outlives the gateway."""
    gateway, phase = start()
    stubborn = [c for c in soak.COMBOS if c.kind == "stubborn"][0]
    try:
        soak.Session(phase, soak.Client(gateway.port), stubborn).initialize()   # shutdown now takes ~3 s
        sent = time.monotonic()
        gateway.process.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        client = soak.Client(gateway.port)                                       # a new connection
        late = soak.Session(phase, client, stubborn)
        try:
            late.initialize()
        except (soak.Bad, soak.NoResponse, soak.Malformed) as error:
            print("a new connection %.1f s after SIGTERM: no session (%s)" % (time.monotonic() - sent, error))
            status = gateway.process.wait(30)
            print("gateway exited with %s %.1f s after SIGTERM" % (status, time.monotonic() - sent))
            time.sleep(1)
            survivors = soak.marked_processes()
            print("upstream processes alive after the gateway exited: %s" % (soak.describe(survivors) or "none"))
            return 1 if survivors or time.monotonic() - sent > soak.SIGTERM_EXIT_BOUND + 1 else 0
        print("a new connection %.1f s after SIGTERM: initialize opened session %s" % (time.monotonic() - sent, late.sid))
        raw = soak.raw_socket("127.0.0.1", gateway.port)                         # another new one
        raw.sendall(("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\nAccept: text/event-stream\r\n"
                     "Mcp-Session-Id: %s\r\nMCP-Protocol-Version: %s\r\n\r\n"
                     % (stubborn.path, late.token, late.sid, soak.PROTOCOL)).encode())
        raw.settimeout(5)
        print("GET stream on it: %r" % raw.recv(200).split(b"\r\n")[0])
        try:
            status = gateway.process.wait(40)
            print("gateway exited with %s %.1f s after SIGTERM" % (status, time.monotonic() - sent))
            hung = False
        except subprocess.TimeoutExpired:
            print("gateway still running %.0f s after SIGTERM" % (time.monotonic() - sent))
            hung = True
        raw.close()
        try:
            gateway.process.wait(10)
        except subprocess.TimeoutExpired:
            gateway.process.kill()
            gateway.process.wait()
        time.sleep(1)
        survivors = soak.marked_processes()
        print("upstream processes alive after the gateway exited: %s" % (soak.describe(survivors) or "none"))
        return 1 if hung or survivors else 0
    finally:
        stop(gateway)


def json_reply_202(seconds=10):
    """wrk's `tools/call echo` (bench/mcp-call.lua) on one session, one call at a time (-c1) and on
    eight connections (-c8): now and then a call is answered HTTP 202 with an empty body, the end of
    the previous call's reply taken for the answer of this one, and its own reply is lost."""
    gateway, phase = start()
    failed = 0
    try:
        client = soak.Client(gateway.port)
        session = soak.Session(phase, client, soak.COMBOS[4])   # bob on acme/notes
        session.initialize()
        script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "mcp-call.lua")
        environment = dict(os.environ, MCP_SESSION=session.sid, MCP_TOKEN=session.token)
        for connections in (1, 8):
            run = subprocess.run(["wrk", "-t1", "-c%d" % connections, "-d%ds" % seconds, "--timeout", "2s", "-s", script,
                                  "http://127.0.0.1:%d%s" % (gateway.port, soak.COMBOS[4].path)],
                                 env=environment, capture_output=True, text=True, timeout=seconds + 30)
            line = re.search(r"^failed_calls (\d+) .*$", run.stdout, re.M)
            print("wrk -t1 -c%d -d%ds: %s" % (connections, seconds, line.group(0) if line else "no summary: " + run.stdout[-500:]))
            failed += int(line.group(1)) if line else 1
        client.close()
    finally:
        stop(gateway)
    return 1 if failed else 0


if __name__ == "__main__":
    cases = {"empty-sse-reply": empty_sse_reply, "inherited-fds": inherited_fds, "session-after-sigterm": session_after_sigterm,
             "json-reply-202": json_reply_202}
    if len(sys.argv) != 2 or sys.argv[1] not in cases:
        sys.exit("usage: repro.py %s" % "|".join(cases))
    sys.exit(cases[sys.argv[1]]())
