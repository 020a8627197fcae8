"""End-to-end fault injection: `orch serve` in front of misbehaving upstreams (stdlib only).

stdio upstreams are tests/e2e/faulty_upstream.py in one mode each; remote ones are the fake HTTP
servers of tests/e2e/fault_http.py. Every test has its own orch.json (callTimeoutSeconds 2) and
`orch serve`, and checks what the client sees, how long it took, that no process of the upstream's
process group is left, and, for remote upstreams, that the secret header never reached another
origin.

    ORCH_BIN=.build/debug/orch python3 test_faults.py -v
"""
import http.client
import json
import os
import re
import secrets
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

from orchserver import OrchServer, sha256  # noqa: E402
from fault_http import LegacySSEUpstream, OtherOrigin, PrettySSEUpstream, RedirectUpstream  # noqa: E402

FAULTY = os.path.join(HERE, "faulty_upstream.py")
TOKEN = "orch_" + secrets.token_urlsafe(32)
SECRET = "upstream-secret-" + secrets.token_hex(16)
ORG = "acme"
PROTOCOL = "2025-06-18"
CALL_TIMEOUT = 2          # gateway.limits.callTimeoutSeconds of every test
ANSWER_WITHIN = 10.0      # a 2 s timeout must be answered within this (loose: CI is loaded)
# Stopping a process group: stdin closed, SIGTERM ~1 s later, SIGKILL ~2 s after that; slack on top.
STOPPED_WITHIN = 5.0
JSON_OR_SSE = "application/json, text/event-stream"
MIB = 1 << 20


# --- processes -----------------------------------------------------------------------------------

def proc_stat(pid):
    """(state, ppid, pgrp) of `pid`, or None when it is gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return fields[0], int(fields[1]), int(fields[2])


def alive(pid):
    stat = proc_stat(pid)
    return stat is not None and stat[0] != "Z"


def cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().replace(b"\0", b" ").decode("utf-8", "replace").strip()
    except OSError:
        return ""


def all_pids():
    return [int(entry) for entry in os.listdir("/proc") if entry.isdigit()]


def group_members(pgid):
    """The live (not zombie) processes whose process group is `pgid`."""
    members = []
    for pid in all_pids():
        stat = proc_stat(pid)
        if stat is not None and stat[0] != "Z" and stat[2] == pgid:
            members.append(pid)
    return members


def marker_pids(marker):
    """The live processes running faulty_upstream.py with `marker` on their command line."""
    found = []
    for pid in all_pids():
        line = cmdline(pid)
        if "faulty_upstream.py" in line and marker in line and alive(pid):
            found.append(pid)
    return found


def describe_pids(pids):
    return ", ".join("%d (%s, state %s)" % (pid, cmdline(pid) or "?", (proc_stat(pid) or ("gone",))[0])
                     for pid in pids) or "none"


def vm_rss_kib(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


class Reply:
    def __init__(self, status, headers, text, elapsed):
        self.status = status
        self.headers = headers          # lower-case names
        self.text = text
        self.elapsed = elapsed
        self.json = None
        content_type = headers.get("content-type", "")
        try:
            if content_type.startswith("text/event-stream"):
                messages = [data for name, data in parse_sse(text) if name == "message"]
                self.json = json.loads(messages[-1]) if messages else None
            elif text:
                self.json = json.loads(text)
        except ValueError:
            self.json = None

    @property
    def session(self):
        return self.headers.get("mcp-session-id")

    def __str__(self):
        body = self.text if len(self.text) < 2000 else self.text[:2000] + "…(%d chars)" % len(self.text)
        return "HTTP %d after %.2f s, headers %r, body %r" % (self.status, self.elapsed, self.headers, body)


def parse_sse(text):
    """[(event name, data)] of an SSE body (data lines joined by newlines)."""
    events, name, data = [], "", None
    for line in text.replace("\r\n", "\n").split("\n"):
        if line == "":
            if data is not None:
                events.append((name or "message", "\n".join(data)))
            name, data = "", None
        elif line.startswith(":"):
            continue
        else:
            field, _, value = line.partition(":")
            if value.startswith(" "):
                value = value[1:]
            if field == "event":
                name = value
            elif field == "data":
                data = (data or []) + [value]
    if data is not None:
        events.append((name or "message", "\n".join(data)))
    return events


def rpc(request_id, method, params=None):
    message = {"jsonrpc": "2.0", "id": request_id, "method": method}
    if params is not None:
        message["params"] = params
    return message


def initialize_message(request_id=1):
    return rpc(request_id, "initialize", {"protocolVersion": PROTOCOL, "capabilities": {},
                                          "clientInfo": {"name": "test_faults", "version": "1"}})


def stdio_server(mode, marker, env=None):
    server = {"command": sys.executable, "args": [FAULTY, mode, marker]}
    if env:
        server["env"] = env
    return server


def remote_server(url, transport=None):
    server = {"url": url, "headers": {"Authorization": "Bearer " + SECRET, "X-Upstream-Secret": SECRET}}
    if transport:
        server["transport"] = transport
    return server


# --- the test case -------------------------------------------------------------------------------

class FaultTestCase(unittest.TestCase):
    maxDiff = None

    def setUp(self):
        self.folder = tempfile.mkdtemp(prefix="orch-e2e-faults-")
        self.addCleanup(shutil.rmtree, self.folder, True)
        self.gateway = None
        self.watched_groups = set()
        self.addCleanup(self.kill_leftovers)

    # gateway ----------------------------------------------------------------------------------

    def start_gateway(self, servers, env=None):
        document = {
            "version": 1,
            "gateway": {"audit": "audit.jsonl", "limits": {"callTimeoutSeconds": CALL_TIMEOUT}},
            "roles": {"admin": {"allow": ["*"]}},
            "orgs": {ORG: {"members": {"ada": "admin"}, "servers": servers}},
            "users": {"ada": {"keys": [{"id": "k", "sha256": sha256(TOKEN)}]}},
        }
        path = os.path.join(self.folder, "orch.json")
        with open(path, "w") as f:
            json.dump(document, f, indent=2)
        self.gateway = OrchServer(path, env=env)
        self.addCleanup(self.gateway.stop)
        host, port = self.gateway.base[len("http://"):].rsplit(":", 1)
        self.host, self.port = host, int(port)
        return self.gateway

    def path(self, server):
        return "/orgs/%s/servers/%s/mcp" % (ORG, server)

    def http(self, method, server, message=None, session=None, accept=JSON_OR_SSE, timeout=15):
        headers = {"Authorization": "Bearer " + TOKEN, "Accept": accept}
        body = None
        if message is not None:
            body = json.dumps(message).encode()
            headers["Content-Type"] = "application/json"
        if session:
            headers["Mcp-Session-Id"] = session
            headers["MCP-Protocol-Version"] = PROTOCOL
        connection = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        started = time.monotonic()
        try:
            connection.request(method, self.path(server), body=body, headers=headers)
            response = connection.getresponse()
            raw = response.read()
            elapsed = time.monotonic() - started
            return Reply(response.status, {k.lower(): v for k, v in response.getheaders()},
                         raw.decode("utf-8", "replace"), elapsed)
        finally:
            connection.close()

    def post(self, server, message, session=None, accept=JSON_OR_SSE, timeout=15):
        return self.http("POST", server, message, session, accept, timeout)

    def open_session(self, server, accept=JSON_OR_SSE):
        reply = self.post(server, initialize_message(), accept=accept)
        self.assertEqual(reply.status, 200, "initialize of %s: %s\n%s" % (server, reply, self.diagnostics()))
        self.assertTrue(reply.session, "initialize of %s gave no Mcp-Session-Id: %s" % (server, reply))
        self.assertIsNotNone(reply.json, "initialize of %s: unparseable reply %s" % (server, reply))
        self.assertIn("result", reply.json, "initialize of %s: %s" % (server, reply))
        notified = self.post(server, {"jsonrpc": "2.0", "method": "notifications/initialized"}, session=reply.session)
        self.assertEqual(notified.status, 202, "notifications/initialized: %s" % notified)
        return reply.session, reply

    def delete(self, server, session):
        reply = self.http("DELETE", server, session=session)
        self.assertEqual(reply.status, 204, "DELETE: %s\n%s" % (reply, self.diagnostics()))
        return time.monotonic()

    def diagnostics(self):
        log = "\n".join(self.gateway.output.collect()[-40:]) if self.gateway else "(no gateway)"
        return "--- audit (tail):\n%s--- orch log (tail):\n%s" % (self.audit_text()[-4000:], log)

    def audit_text(self):
        try:
            with open(os.path.join(self.folder, "audit.jsonl")) as f:
                return f.read()
        except OSError:
            return ""

    # JSON-RPC ---------------------------------------------------------------------------------

    def assert_rpc_error(self, reply, request_id, code, status=200, message_pattern=None, data_code=None):
        self.assertEqual(reply.status, status, "expected HTTP %d: %s\n%s" % (status, reply, self.diagnostics()))
        self.assertIsInstance(reply.json, dict, "not a JSON-RPC body: %s" % reply)
        self.assertEqual(reply.json.get("jsonrpc"), "2.0", "not a JSON-RPC body: %s" % reply)
        self.assertEqual(reply.json.get("id"), request_id, "JSON-RPC id: %s" % reply)
        error = reply.json.get("error")
        self.assertIsInstance(error, dict, "no JSON-RPC error: %s" % reply)
        if code is None:
            self.assertIsInstance(error.get("code"), int, "JSON-RPC error without an integer code: %s" % reply)
        else:
            self.assertEqual(error.get("code"), code, "JSON-RPC error code: %s\n%s" % (reply, self.diagnostics()))
        self.assertIsInstance(error.get("message"), str, "JSON-RPC error without a message: %s" % reply)
        if message_pattern:
            self.assertRegex(error["message"], message_pattern, "error message: %s" % reply)
        if data_code:
            # docs/guide/operations.md / docs/decisions.md: a failed initialize's error carries the gateway's error code.
            self.assertEqual((error.get("data") or {}).get("code"), data_code, "error.data.code: %s" % reply)
        return error

    def assert_timed_out_call(self, reply, request_id):
        self.assert_rpc_error(reply, request_id, -32001)
        self.assertGreaterEqual(reply.elapsed, CALL_TIMEOUT - 0.1,
                                "the -32001 came before the %d s timeout: %s" % (CALL_TIMEOUT, reply))
        self.assertLess(reply.elapsed, ANSWER_WITHIN,
                        "a %d s call timeout answered only after %.2f s: %s" % (CALL_TIMEOUT, reply.elapsed, reply))

    # processes --------------------------------------------------------------------------------

    def wait_for_upstream(self, marker, timeout=10):
        """The pid of the faulty_upstream.py started with `marker` (its process group's id)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pids = marker_pids(marker)
            if pids:
                self.assertEqual(len(pids), 1, "several upstreams with marker %s: %s" % (marker, describe_pids(pids)))
                self.watched_groups.add(pids[0])
                stat = proc_stat(pids[0])
                if stat is not None:
                    self.assertEqual(stat[2], pids[0], "the upstream %d should lead its own process group, pgrp is %d"
                                     % (pids[0], stat[2]))
                return pids[0]
            time.sleep(0.02)
        self.fail("no faulty_upstream.py process with marker %s within %d s\n%s" % (marker, timeout, self.diagnostics()))

    def assert_group_gone(self, pgid, since, within=STOPPED_WITHIN, what="the upstream's process group"):
        """No live process of group `pgid` within `within` seconds of `since` (monotonic)."""
        while time.monotonic() - since < within:
            if not group_members(pgid):
                return time.monotonic() - since
            time.sleep(0.02)
        left = group_members(pgid)
        if left:
            self.fail("%s (pgrp %d) still has live processes %.1f s later: %s\n%s"
                      % (what, pgid, time.monotonic() - since, describe_pids(left), self.diagnostics()))
        return time.monotonic() - since

    def kill_leftovers(self):
        # Only processes of the upstream groups this test found (started for it by its gateway).
        for pgid in self.watched_groups:
            for pid in group_members(pgid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass

    # SSE framing ------------------------------------------------------------------------------

    def assert_sse_framing(self, reply):
        """Every line the gateway sent is blank, a comment, or an `event:`, `id:`, `retry:` or
        `data: ` field: no bare payload line."""
        self.assertTrue(reply.headers.get("content-type", "").startswith("text/event-stream"),
                        "expected an SSE reply: %s" % reply)
        lines = reply.text.replace("\r\n", "\n").split("\n")
        bare = [line for line in lines if line and not re.match(r"(data: |event: |id: |retry: |:)", line)]
        self.assertEqual(bare, [], "lines of the SSE body without a field (a pretty-printed payload was not "
                                   "re-framed):\n%s" % reply.text)
        return lines

    # ---------------------------------------------------------------------------------------------
    # stdio upstreams
    # ---------------------------------------------------------------------------------------------

    def test_silent_upstream_initialize_times_out_with_504_and_no_session(self):
        marker = "fault-silent-" + secrets.token_hex(6)
        self.start_gateway({"silent": stdio_server("silent", marker)})
        with ThreadPoolExecutor(1) as pool:
            future = pool.submit(self.post, "silent", initialize_message(7))
            pid = self.wait_for_upstream(marker)
            reply = future.result()
        answered = time.monotonic()
        self.assert_rpc_error(reply, 7, -32001, status=504, data_code="timeout")
        self.assertIsNone(reply.session, "a timed-out initialize must not open a session: %s" % reply)
        self.assertGreaterEqual(reply.elapsed, CALL_TIMEOUT - 0.1, "504 before the deadline: %s" % reply)
        self.assertLess(reply.elapsed, ANSWER_WITHIN, "initialize deadline of %d s answered late: %s" % (CALL_TIMEOUT, reply))
        self.assert_group_gone(pid, answered)

    def test_upstream_crashing_at_initialize_is_502_and_no_session(self):
        marker = "fault-crash-init-" + secrets.token_hex(6)
        self.start_gateway({"crashy": stdio_server("crash-init", marker)})
        seen = []
        stop = threading.Event()

        def watch():  # the process lives only briefly: note its pid if we can
            while not stop.is_set():
                for pid in marker_pids(marker):
                    if pid not in seen:
                        seen.append(pid)
                time.sleep(0.005)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        try:
            reply = self.post("crashy", initialize_message(3))
        finally:
            stop.set()
            watcher.join()
        answered = time.monotonic()
        self.assert_rpc_error(reply, 3, None, status=502, data_code="upstream_unavailable")
        self.assertIsNone(reply.session, "a failed initialize must not open a session: %s" % reply)
        self.assertLess(reply.elapsed, CALL_TIMEOUT - 0.5,
                        "an upstream that exits at initialize should be noticed at once, not at the timeout: %s" % reply)
        self.watched_groups.update(seen)
        for pid in seen:
            self.assert_group_gone(pid, answered)
        deadline = time.monotonic() + STOPPED_WITHIN
        while marker_pids(marker) and time.monotonic() < deadline:
            time.sleep(0.02)
        self.assertEqual(marker_pids(marker), [], "upstream processes left: %s" % describe_pids(marker_pids(marker)))

    def test_slow_drip_reply_times_out_with_32001(self):
        marker = "fault-slow-drip-" + secrets.token_hex(6)
        self.start_gateway({"drip": stdio_server("slow-drip", marker)})
        session, _ = self.open_session("drip")
        pid = self.wait_for_upstream(marker)
        reply = self.post("drip", rpc(2, "tools/call", {"name": "work", "arguments": {}}), session=session)
        self.assert_timed_out_call(reply, 2)
        deleted = self.delete("drip", session)
        self.assert_group_gone(pid, deleted)

    def test_line_over_16_mib_ends_the_session(self):
        marker = "fault-huge-line-" + secrets.token_hex(6)
        self.start_gateway({"huge": stdio_server("huge-line", marker)})
        session, _ = self.open_session("huge")
        pid = self.wait_for_upstream(marker)
        reply = self.post("huge", rpc(2, "tools/call", {"name": "work", "arguments": {}}), session=session)
        answered = time.monotonic()
        error = self.assert_rpc_error(reply, 2, -32603)
        self.assertLess(reply.elapsed, ANSWER_WITHIN, "slow answer: %s" % reply)
        after = self.post("huge", rpc(3, "ping"), session=session)
        # The session ended with its upstream; its id re-creates it with a new one.
        self.assertEqual(after.status, 200, "the id should re-create the session: %s\n%s" % (after, self.diagnostics()))
        self.assertIn("session re-created from its id", self.audit_text())
        self.assert_group_gone(pid, answered)
        self.assertRegex(error["message"], r"(?i)session ended",
                         "the pending call's error should say the session ended: %s\n%s" % (reply, self.diagnostics()))

    def test_reply_without_newline_is_never_a_message(self):
        marker = "fault-no-newline-" + secrets.token_hex(6)
        self.start_gateway({"nonl": stdio_server("no-newline", marker)})
        session, _ = self.open_session("nonl")
        pid = self.wait_for_upstream(marker)
        reply = self.post("nonl", rpc(2, "tools/call", {"name": "work", "arguments": {}}), session=session)
        self.assert_timed_out_call(reply, 2)
        self.assertTrue(alive(pid), "the upstream keeps running after writing without a newline")
        deleted = self.delete("nonl", session)
        self.assert_group_gone(pid, deleted)

    def test_crash_in_the_middle_of_a_reply_ends_the_session(self):
        marker = "fault-crash-mid-" + secrets.token_hex(6)
        self.start_gateway({"midcrash": stdio_server("crash-mid-reply", marker)})
        session, _ = self.open_session("midcrash")
        pid = self.wait_for_upstream(marker)
        reply = self.post("midcrash", rpc(2, "tools/call", {"name": "work", "arguments": {}}), session=session)
        answered = time.monotonic()
        error = self.assert_rpc_error(reply, 2, -32603)
        self.assertLess(reply.elapsed, CALL_TIMEOUT - 0.5,
                        "the crash should end the call at once, not at the timeout: %s" % reply)
        after = self.post("midcrash", rpc(3, "ping"), session=session)
        # The session ended with its upstream; its id re-creates it with a new one.
        self.assertEqual(after.status, 200, "the id should re-create the session: %s\n%s" % (after, self.diagnostics()))
        self.assertIn("session re-created from its id", self.audit_text())
        self.assert_group_gone(pid, answered)
        self.assertRegex(error["message"], r"(?i)session ended",
                         "the pending call's error should say the session ended: %s\n%s" % (reply, self.diagnostics()))

    def test_upstream_ignoring_eof_and_sigterm_is_killed(self):
        marker = "fault-ignore-eof-" + secrets.token_hex(6)
        self.start_gateway({"stubborn": stdio_server("ignore-eof", marker)})
        session, _ = self.open_session("stubborn")
        pid = self.wait_for_upstream(marker)
        listed = self.post("stubborn", rpc(2, "tools/list"), session=session)
        self.assertEqual(listed.status, 200, str(listed))
        self.assertEqual([t["name"] for t in listed.json["result"]["tools"]], ["work"])
        before = time.monotonic()
        deleted = self.delete("stubborn", session)
        self.assertLess(deleted - before, 1.0, "DELETE should answer at once, not wait for the process")
        took = self.assert_group_gone(pid, deleted)
        # SIGTERM is ignored, so only the SIGKILL ~3 s after the close can end it.
        self.assertGreater(took, 2.0, "the process ignoring SIGTERM ended after only %.2f s: was it really ignoring it?" % took)

    def test_grandchild_of_the_upstream_is_stopped_with_its_group(self):
        marker = "fault-grandchild-" + secrets.token_hex(6)
        pidfile = os.path.join(self.folder, "grandchild.pid")
        self.start_gateway({"wrapper": stdio_server("grandchild", marker, env={"FAULT_PIDFILE": pidfile})})
        session, _ = self.open_session("wrapper")
        pid = self.wait_for_upstream(marker)
        deadline = time.monotonic() + 5
        while not os.path.exists(pidfile) and time.monotonic() < deadline:
            time.sleep(0.02)
        with open(pidfile) as f:
            grandchild = int(f.read().strip())
        self.assertTrue(alive(grandchild), "the grandchild should be running")
        self.assertEqual(proc_stat(grandchild)[2], pid, "the grandchild should be in the upstream's process group")
        self.assertIn(grandchild, group_members(pid))
        called = self.post("wrapper", rpc(2, "tools/call", {"name": "work", "arguments": {}}), session=session)
        self.assertEqual(called.status, 200, str(called))
        self.assertEqual(called.json["result"]["content"][0]["text"], "worked")
        deleted = self.delete("wrapper", session)
        self.assert_group_gone(pid, deleted)
        self.assertFalse(alive(grandchild), "the grandchild %d survived the session" % grandchild)

    def test_unread_stream_with_flooding_upstream_applies_backpressure(self):
        flood_marker = "fault-flood-" + secrets.token_hex(6)
        normal_marker = "fault-normal-" + secrets.token_hex(6)
        countfile = os.path.join(self.folder, "flood.count")
        gateway = self.start_gateway({
            "flood": stdio_server("flood", flood_marker, env={"FAULT_COUNTFILE": countfile}),
            "calm": stdio_server("normal", normal_marker),
        })
        orch_pid = gateway.process.pid
        session, _ = self.open_session("flood")
        pid = self.wait_for_upstream(flood_marker)
        baseline = vm_rss_kib(orch_pid)

        # A GET stream that is never read, with a small receive buffer.
        stream = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        stream.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.addCleanup(stream.close)
        stream.settimeout(8)
        stream.connect((self.host, self.port))
        stream.sendall(("GET %s HTTP/1.1\r\nHost: %s:%d\r\nAuthorization: Bearer %s\r\nAccept: text/event-stream\r\n"
                        "Mcp-Session-Id: %s\r\nMCP-Protocol-Version: %s\r\n\r\n"
                        % (self.path("flood"), self.host, self.port, TOKEN, session, PROTOCOL)).encode())
        head = b""
        while b"\r\n\r\n" not in head:
            data = stream.recv(1024)
            if not data:
                break
            head += data
        self.assertRegex(head.split(b"\r\n", 1)[0].decode("latin-1"), r"^HTTP/1\.[01] 200",
                         "GET stream: %r" % head[:500])
        # From here on the stream is never read.

        peak = [baseline]
        sampling = threading.Event()

        def sample():
            while not sampling.is_set():
                rss = vm_rss_kib(orch_pid)
                if rss is not None and rss > peak[0]:
                    peak[0] = rss
                time.sleep(0.05)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        self.addCleanup(sampling.set)

        def written():
            try:
                with open(countfile) as f:
                    return int(f.read().strip() or 0)
            except (OSError, ValueError):
                return 0

        flood_started = time.monotonic()
        reply = self.post("flood", rpc(2, "tools/call", {"name": "work", "arguments": {}}), session=session)
        self.assert_timed_out_call(reply, 2)

        # Other sessions keep working meanwhile.
        other, _ = self.open_session("calm")
        listed = self.post("calm", rpc(2, "tools/list"), session=other)
        self.assertEqual(listed.status, 200, str(listed))
        self.assertEqual([t["name"] for t in listed.json["result"]["tools"]], ["work"])
        called = self.post("calm", rpc(3, "tools/call", {"name": "work", "arguments": {}}), session=other)
        self.assertEqual(called.status, 200, str(called))
        self.assertEqual(called.json["result"]["content"][0]["text"], "worked")
        self.assertLess(called.elapsed, 1.0, "another session's call was slow during the flood: %s" % called)

        # Backpressure: the flooder's output stalls (it is blocked writing to a pipe nobody reads).
        samples = [(time.monotonic() - flood_started, written())]
        while time.monotonic() - flood_started < 10:
            time.sleep(0.5)
            samples.append((time.monotonic() - flood_started, written()))
            if len(samples) >= 3 and samples[-1][1] == samples[-3][1] and samples[-1][1] > 0:
                break
        stalled = len(samples) >= 3 and samples[-1][1] - samples[-3][1] < MIB
        sampling.set()
        sampler.join()
        growth_mib = (peak[0] - baseline) / 1024.0
        progress = ", ".join("%.1f s: %.1f MiB" % (t, n / MIB) for t, n in samples)
        self.assertGreater(samples[-1][1], MIB, "the flooding upstream hardly wrote anything (%s): the test proves "
                                                "nothing\n%s" % (progress, self.diagnostics()))
        self.assertTrue(alive(pid), "the flooding upstream should be paused, not ended\n%s" % self.diagnostics())
        self.assertTrue(stalled, "the gateway kept reading the flooding upstream (bytes it wrote: %s); "
                                 "orch VmRSS grew by %.1f MiB\n%s" % (progress, growth_mib, self.diagnostics()))
        self.assertLess(growth_mib, 200, "orch VmRSS grew by %.1f MiB (baseline %d KiB, peak %d KiB) while a client did "
                                         "not read its stream; upstream wrote %s" % (growth_mib, baseline, peak[0], progress))

        sys.stderr.write("\n  [flood] orch VmRSS baseline %d KiB, peak %d KiB (+%.1f MiB); upstream wrote %s\n  "
                         % (baseline, peak[0], growth_mib, progress))
        deleted = self.delete("flood", session)
        self.assert_group_gone(pid, deleted)
        self.delete("calm", other)

    # ---------------------------------------------------------------------------------------------
    # remote upstreams
    # ---------------------------------------------------------------------------------------------

    def fake(self, server):
        self.addCleanup(server.stop)
        return server

    def assert_other_origin_untouched(self, other):
        time.sleep(0.3)  # anything in flight would have arrived
        requests = other.requests()
        self.assertEqual(requests, [], "the other origin %s received requests from the gateway: %s"
                         % (other.origin, json.dumps(requests, indent=1)))
        self.assertNotIn(SECRET, json.dumps(requests))

    def test_remote_redirect_is_not_followed(self):
        other = self.fake(OtherOrigin())
        redirecting = self.fake(RedirectUpstream(other.origin + "/mcp"))
        self.start_gateway({"moved": remote_server(redirecting.origin + "/mcp")})
        reply = self.post("moved", initialize_message(5))
        self.assert_rpc_error(reply, 5, None, status=502, data_code="upstream_unavailable")
        self.assertIsNone(reply.session, "a failed initialize must not open a session: %s" % reply)
        self.assertLess(reply.elapsed, ANSWER_WITHIN, str(reply))
        got = redirecting.requests()
        self.assertTrue(got, "the redirecting upstream never got the initialize")
        self.assertEqual(got[0]["headers"].get("X-Upstream-Secret"), SECRET, "own origin gets the configured headers")
        self.assertNotIn(TOKEN, json.dumps(got), "the caller's token must never reach an upstream")
        self.assert_other_origin_untouched(other)
        self.assertNotIn(SECRET, self.audit_text())

    def test_a_secret_in_a_redirect_location_never_reaches_the_log(self):
        # The upstream sends the gateway back to a URL that carries the ${env:} value of the
        # server's own URL, as written and percent-encoded: the log says where, with it redacted.
        url_secret = "url-secret/" + secrets.token_hex(8)
        encoded = urllib.parse.quote(url_secret, safe="")
        other = self.fake(OtherOrigin())
        redirecting = self.fake(RedirectUpstream(other.origin + "/mcp?key=" + encoded + "&again=" + url_secret))
        self.start_gateway({"moved": {"url": redirecting.origin + "/mcp?key=${env:FAULT_URL_SECRET}"}},
                           env={"FAULT_URL_SECRET": url_secret})
        reply = self.post("moved", initialize_message(7))
        self.assert_rpc_error(reply, 7, None, status=502, data_code="upstream_unavailable")
        self.gateway.wait_for_log(r"answered with a redirect")
        log = "\n".join(self.gateway.log)
        self.assertIn("/mcp?key=[redacted]&again=[redacted]", log, "the Location is logged, redacted:\n%s" % log)
        self.assertNotIn(url_secret, log)
        self.assertNotIn(encoded, log)
        self.assertNotIn(url_secret, self.audit_text())
        self.assertNotIn(url_secret, json.dumps(reply.json))

    def test_legacy_sse_endpoint_on_another_origin_is_refused(self):
        other = self.fake(OtherOrigin())
        legacy = self.fake(LegacySSEUpstream(other.origin + "/messages?sessionId=abc"))
        self.start_gateway({"legacy": remote_server(legacy.origin + "/sse", transport="sse")})
        reply = self.post("legacy", initialize_message(6))
        self.assert_rpc_error(reply, 6, None, status=502, data_code="upstream_unavailable")
        self.assertIsNone(reply.session, "a refused upstream must not open a session: %s" % reply)
        self.assertLess(reply.elapsed, ANSWER_WITHIN, str(reply))
        got = legacy.requests()
        self.assertTrue(got and got[0]["method"] == "GET", "the legacy upstream's stream was never opened: %r" % got)
        self.assertEqual(got[0]["headers"].get("X-Upstream-Secret"), SECRET)
        self.assert_other_origin_untouched(other)
        self.assertNotIn(SECRET, self.audit_text())

    def test_pretty_printed_sse_from_remote_is_reframed(self):
        pretty = self.fake(PrettySSEUpstream())
        self.start_gateway({"pretty": remote_server(pretty.origin + "/mcp")})

        # initialize as SSE. The gateway rewrites the initialize result (it sets listChanged on
        # the tools/prompts/resources capabilities, since it announces policy changes itself), so
        # this reply is the gateway's own message: well framed, and the upstream's result with
        # only that capability changed.
        reply = self.post("pretty", initialize_message(1), accept="text/event-stream")
        self.assertEqual(reply.status, 200, "%s\n%s" % (reply, self.diagnostics()))
        session = reply.session
        self.assertTrue(session, str(reply))
        self.assert_sse_framing(reply)
        # (The gateway asked the server server/discover first: the fake's empty result for it makes
        # the server one of the handshake era.)
        expected = json.loads(json.dumps(next(m for m in pretty.sent if m["id"] == 1)))
        expected["result"]["capabilities"]["tools"]["listChanged"] = True
        self.assertEqual(reply.json, expected, "the client could not get the upstream's message back:\n%s" % reply.text)
        self.assertEqual(self.post("pretty", {"jsonrpc": "2.0", "method": "notifications/initialized"},
                                   session=session).status, 202)

        # tools/call as SSE: the payload's text holds an escaped newline, the pretty JSON real ones.
        called = self.post("pretty", rpc(2, "tools/call", {"name": "work", "arguments": {}}),
                           session=session, accept="text/event-stream")
        self.assertEqual(called.status, 200, "%s\n%s" % (called, self.diagnostics()))
        lines = self.assert_sse_framing(called)
        self.assertGreater(len([line for line in lines if line.startswith("data: ")]), 1,
                           "expected the multi-line payload as several data: lines:\n%s" % called.text)
        self.assertEqual(called.json, PrettySSEUpstream.call_result(2), "tools/call reply:\n%s" % called.text)
        self.assertEqual(called.json["result"]["content"][0]["text"], "line one\nline two")

        # tools/list as JSON: parseable as is.
        listed = self.post("pretty", rpc(3, "tools/list"), session=session)
        self.assertEqual(listed.status, 200, str(listed))
        self.assertEqual(listed.json, {"jsonrpc": "2.0", "id": 3, "result": {"tools": [PrettySSEUpstream.TOOL]}},
                         str(listed))
        self.delete("pretty", session)
        self.assertNotIn(TOKEN, json.dumps(pretty.requests()), "the caller's token must never reach an upstream")


if __name__ == "__main__":
    unittest.main()
