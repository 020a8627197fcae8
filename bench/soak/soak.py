#!/usr/bin/env python3
"""make soak: a soak / race / load run of `orch serve` that passes only if the gateway returns to
its baseline and no request fails that should not have. Python standard library, plus wrk.

    ORCH_BIN=.build/release/orch SOAK_SECONDS=180 python3 bench/soak/soak.py [--record RELIABILITY.md]

Phases (every loop is bounded by the phase's stop event and a hard deadline):

1. Start `orch serve` on a free loopback port with a generated orch.json (bench/soak's own, in a
   temporary folder): stdio servers running `orch sample-server` (two with --page-size 1), faulty
   upstreams from tests/e2e/faulty_upstream.py (one that crashes on a tools/call, one whose reply
   drips a byte every 50 ms, one that ignores SIGTERM and EOF), five keys of four users, the audit
   log in a file, sessionIdleSeconds 4, requestHeadSeconds 3, maxConnectionsPerClient 64.
   A short warm-up of the same traffic, a settle, then the baseline is taken.
2. For SOAK_SECONDS, at once: MCP session churn from SOAK_WORKERS threads (initialize,
   notifications/initialized, paged tools/list, tools/call allowed, refused and toggled by the
   reloads, prompts/get, resources/read, DELETE; some sessions left to idle out; the crashing
   upstream crashed mid-session, its next request answered by the session re-created from its id); listeners holding a
   GET stream that must see notifications/tools/list_changed while their session keeps working;
   the policy rewritten atomically every second between two valid variants; admin pollers of
   /api/v1/policy, /api/v1/tools and /metrics; wrk on /api/v1/me and /api/v1/servers; hostile
   clients from their own loopback addresses (127.0.0.2-9): an unauthenticated flood (bad tokens,
   8 KiB tokens, 8 KiB Origin headers), idle sockets past maxConnectionsPerClient, slowloris
   (a first request head dribbled a byte at a time, and the head of a second request on a
   kept-alive connection likewise), slow-read SSE clients (an unread GET stream, an unread 1 MiB
   streamed reply), slow bodies (maxConnectionsPerClient connections each dripping a request
   body into POST /ui/signin or an MCP POST with a key), and a flood of aggregated sessions of
   one key (initializes, some with a 1 MiB `_meta`, some with capabilities past what a session
   keeps, none ended).
3. Stop, settle, and compare with the baseline: VmRSS, open fds, threads, child processes, and the
   orch_sessions_active / orch_upstream_processes gauges. The audit log's growth from the flood
   must fit the documented throttle.
4. SIGTERM under fresh load: responses complete or clean refusals, no session opened on a
   connection made after the signal, exit with status 0 within the bound, no upstream process
   left, every audit line a complete JSON object.
5. Exit 1 on any violation, with the evidence; 0 otherwise.
"""
import argparse
import collections
import hashlib
import http.client
import json
import os
import random
import re
import secrets
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
ORCH = os.path.abspath(os.environ.get("ORCH_BIN", os.path.join(ROOT, ".build", "release", "orch")))
FAULTY = os.path.join(ROOT, "tests", "e2e", "faulty_upstream.py")
WRK_SCRIPT = os.path.join(HERE, "api.lua")

DURATION = float(os.environ.get("SOAK_SECONDS", "180"))
WORKERS = int(os.environ.get("SOAK_WORKERS", "6"))
WRK_CONNECTIONS = int(os.environ.get("SOAK_WRK_CONNECTIONS", "4"))
WARMUP_SECONDS = 5.0

PROTOCOL = "2025-06-18"
JSON_OR_SSE = "application/json, text/event-stream"

# The soak policy's limits (gateway.limits).
SESSION_IDLE_SECONDS = 4          # idle sessions end within 4 s + the 5 s idle check
REQUEST_HEAD_SECONDS = 3          # idle / slowloris sockets are closed after this
MAX_CONNECTIONS_PER_CLIENT = 64   # the idle-socket client opens more than this
CALL_TIMEOUT_SECONDS = 30         # the drip reply takes ~9 s; loaded 2-core machines are slow
MAX_SESSIONS_PER_KEY = 256        # idle-left sessions of one key must not hit 429
MAX_UPSTREAM_PROCESSES = 512      # nor must the whole gateway hit 503

# Tolerances of the return to baseline (see RELIABILITY.md for why).
RSS_TOLERANCE_MIB = 20
RSS_TOLERANCE_FRACTION = 0.25
FD_SLACK = 0
THREAD_SLACK = 2
SETTLE_MAX_SECONDS = 60           # idle-out (4 s + 5 s tick) + stop sequences (3 s) + slack
# Hostile-client bounds.
CLOSE_SLACK_SECONDS = 3.0         # a guarded socket must be closed within its limit + this
# A body must arrive at 1 KiB/s after a grace of requestHeadSeconds (docs/guide/operations.md, "Limits"): one dripped
# a byte every 0.5 s is cut at about requestHeadSeconds.
SLOW_BODY_GRACE_SECONDS = REQUEST_HEAD_SECONDS
# What an aggregated session keeps of initialize (capabilities, clientInfo, protocolVersion).
KEPT_INITIALIZE_BYTES = 16384
# Peak VmRSS during the load: a flood whose sessions each kept its 1 MiB `_meta` passes it in seconds.
RSS_PEAK_ALLOWED_MIB = 160
IMMEDIATE_CLOSE_SECONDS = 1.0     # "closed at once" (past maxConnectionsPerClient)
GIVE_UP_SECONDS = 30.0            # a guarded socket still open then is closed by the soak itself
# Audit throttle (docs/guide/operations.md, "Audit log"): 20 records per address per 10 s, plus one summary record.
AUDIT_LIMIT, AUDIT_WINDOW_SECONDS = 20, 10
# The longest audit line a record can be: ts ~34 B, policy ~83 B, 11 client-controlled fields of
# at most 256 B plus a "…[+N bytes]" marker (~23 B) and the field name (~16 B) = 11 × 295 B,
# reason 512 B + marker + name, status and ms ~40 B, braces and newline: 3,952 B. Rounded up.
MAX_AUDIT_LINE = 4096
# SIGTERM: every upstream stops within its 3 s sequence, all in parallel (docs/guide/operations.md); in-flight
# requests finish first. 10 s leaves 7 s for the HTTP server's own shutdown on a loaded machine.
SIGTERM_EXIT_BOUND = 10.0

WELL = "127.0.0.1"                  # well-behaved clients and wrk
FLOOD_ADDRESSES = ("127.0.0.2", "127.0.0.6")
IDLE_ADDRESS = "127.0.0.3"
SLOWREAD_ADDRESS = "127.0.0.4"
SLOWLORIS_ADDRESS = "127.0.0.5"
DRIBBLE_ADDRESS = "127.0.0.7"
SLOWBODY_ADDRESS = "127.0.0.8"
AGGREGATE_FLOOD_ADDRESS = "127.0.0.9"

RUN_ID = secrets.token_hex(8)
TOKENS = {name: "orch_soak_" + secrets.token_urlsafe(24) for name in ("alice", "bob", "bob_ci", "carol", "sam", "mallory")}


def sha256_hex(data):
    return hashlib.sha256(data if isinstance(data, bytes) else data.encode()).hexdigest()


# --- the policy ----------------------------------------------------------------------------------

ALL5 = frozenset({"add", "delete_note", "echo", "now", "write_note"})
CLOCK = frozenset({"add", "echo", "now"})


def policy(variant):
    """orch.json, variant "A" or "B". B swaps member's `add` for `now` and denies editors
    `write_*`: live sessions of bob, carol and sam see their tool lists change on every reload."""
    toggled = "add" if variant == "A" else "now"
    member = ["notes:echo", "notes:" + toggled, "notes:prompts/*", "notes:resources/*",
              "paged:echo", "paged:" + toggled, "paged:prompts/*", "paged:resources/*",
              "clock", "crashy", "drip", "stubborn"]
    editor_deny = ["*:delete_*"] + (["*:write_*"] if variant == "B" else [])
    env = {"SOAK_RUN": RUN_ID}

    def sample(*extra):
        return {"command": ORCH, "args": ["sample-server"] + list(extra), "env": env}

    def faulty(mode):
        return {"command": sys.executable, "args": [FAULTY, mode, "soak-" + RUN_ID], "env": env}

    def keys(name, **extra):
        return [dict({"id": "k", "sha256": sha256_hex(TOKENS[name])}, **extra)]

    return {
        "version": 1,
        "gateway": {"audit": "audit.jsonl", "limits": {
            "sessionIdleSeconds": SESSION_IDLE_SECONDS, "callTimeoutSeconds": CALL_TIMEOUT_SECONDS,
            "maxSessionsPerKey": MAX_SESSIONS_PER_KEY, "maxUpstreamProcesses": MAX_UPSTREAM_PROCESSES,
            "maxConnectionsPerClient": MAX_CONNECTIONS_PER_CLIENT, "requestHeadSeconds": REQUEST_HEAD_SECONDS}},
        "roles": {
            "admin": {"allow": ["*"]},
            "member": {"allow": member},
            "editor": {"allow": ["notes", "paged", "crashy"], "deny": editor_deny},
        },
        "orgs": {
            "acme": {
                "members": {"alice": "admin", "bob": "member", "carol": "editor", "sam": "member", "mallory": "member"},
                "servers": {
                    "notes": sample(),
                    "paged": sample("--page-size", "1"),
                    "clock": dict(sample(), tools={"allow": ["now", "add", "echo"]}),
                    "crashy": faulty("crash-mid-reply"),
                    "drip": faulty("slow-drip"),
                    "stubborn": faulty("ignore-eof"),
                },
            },
            "globex": {"members": {"alice": "admin", "bob": "member"},
                       "servers": {"notes": sample("--page-size", "1")}},
        },
        "users": {
            "alice": {"admin": True, "keys": keys("alice")},
            "bob": {"keys": keys("bob") + [{"id": "ci", "sha256": sha256_hex(TOKENS["bob_ci"]),
                                             "scope": ["acme/notes:echo", "acme/clock"]}]},
            "carol": {"keys": keys("carol")},
            "sam": {"keys": keys("sam")},
            "mallory": {"keys": keys("mallory")},
        },
        "tests": [{"user": "bob", "allow": ["acme/notes:echo", "globex/notes:echo"], "deny": ["acme/notes:delete_note"]}],
    }


class Combo:
    """Who talks to which server, and what the answer must be under each policy variant."""

    def __init__(self, name, token, org, server, kind="sample", tools=None, prompts=True, resources=True,
                 refused=None, toggled=None, weight=1.0):
        self.name, self.token, self.org, self.server, self.kind = name, token, org, server, kind
        self.tools = tools            # (variant A set, variant B set)
        self.prompts, self.resources = prompts, resources
        self.refused, self.toggled, self.weight = refused, toggled, weight

    @property
    def path(self):
        return "/orgs/%s/servers/%s/mcp" % (self.org, self.server)


MEMBER = (frozenset({"echo", "add"}), frozenset({"echo", "now"}))
EDITOR = (frozenset({"add", "echo", "now", "write_note"}), frozenset({"add", "echo", "now"}))
WORK = (frozenset({"work"}), frozenset({"work"}))
COMBOS = [
    Combo("alice", "alice", "acme", "notes", tools=(ALL5, ALL5)),
    Combo("alice", "alice", "acme", "paged", tools=(ALL5, ALL5)),
    Combo("alice", "alice", "acme", "clock", tools=(CLOCK, CLOCK), refused="delete_note"),
    Combo("alice", "alice", "globex", "notes", tools=(ALL5, ALL5)),
    Combo("bob", "bob", "acme", "notes", tools=MEMBER, refused="delete_note", toggled="add", weight=2),
    Combo("bob", "bob", "acme", "paged", tools=MEMBER, refused="write_note", toggled="add", weight=2),
    Combo("bob", "bob", "globex", "notes", tools=MEMBER, refused="delete_note", toggled="add", weight=1.5),
    Combo("bob", "bob", "acme", "clock", tools=(CLOCK, CLOCK), refused="write_note"),
    Combo("bob/ci", "bob_ci", "acme", "notes", tools=(frozenset({"echo"}), frozenset({"echo"})),
          prompts=False, resources=False, refused="write_note"),
    Combo("carol", "carol", "acme", "notes", tools=EDITOR, refused="delete_note", weight=1.5),
    Combo("carol", "carol", "acme", "paged", tools=EDITOR, refused="delete_note", weight=1.5),
    Combo("bob", "bob", "acme", "crashy", kind="crashy", tools=WORK, weight=1.5),
    Combo("carol", "carol", "acme", "crashy", kind="crashy", tools=WORK, weight=1),
    Combo("bob", "bob", "acme", "stubborn", kind="stubborn", tools=WORK, weight=0.3),
    Combo("bob", "bob", "acme", "drip", kind="drip", tools=WORK, weight=0.1),
]


# --- bookkeeping ---------------------------------------------------------------------------------

class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.counts = collections.Counter()
        self.violations = []
        self.violation_counts = collections.Counter()
        self.maxima = {}

    def inc(self, key, n=1):
        with self.lock:
            self.counts[key] += n

    def maximum(self, key, value):
        with self.lock:
            if value > self.maxima.get(key, float("-inf")):
                self.maxima[key] = value

    def violation(self, what, evidence=""):
        with self.lock:
            self.violation_counts[what] += 1
            if self.violation_counts[what] <= 5:
                self.violations.append((time.strftime("%H:%M:%S"), what, str(evidence)[:3000]))
        sys.stderr.write("VIOLATION: %s\n  %s\n" % (what, str(evidence)[:600].replace("\n", "\n  ")))


class Phase:
    """One phase's stop event and hard deadline; every client loop runs while `running()`."""

    def __init__(self, name, port, seconds, stats):
        self.name, self.port, self.stats = name, port, stats
        self.stop = threading.Event()
        self.hard_deadline = time.monotonic() + seconds + 120
        self.sigterm_at = None        # wall time (time.monotonic) of the SIGTERM, in phase 4
        self.reload_writes = 0

    def running(self):
        return not self.stop.is_set() and time.monotonic() < self.hard_deadline

    def sleep(self, seconds):
        self.stop.wait(seconds)

    def after_sigterm(self, at):
        return self.sigterm_at is not None and at >= self.sigterm_at


# --- HTTP ----------------------------------------------------------------------------------------

class NoResponse(Exception):
    """The connection failed or closed before a status line."""

    def __init__(self, text, sent_at):
        super().__init__(text)
        self.sent_at, self.at = sent_at, time.monotonic()


class Malformed(Exception):
    """A status line arrived, but the body was cut short or is not what its type says."""

    def __init__(self, text):
        super().__init__(text)
        self.at = time.monotonic()


class Bad(Exception):
    """A complete response that is wrong."""

    def __init__(self, what, evidence=""):
        super().__init__(what)
        self.what, self.evidence, self.at = what, evidence, time.monotonic()


def parse_sse(text):
    """[(event, data)] of complete SSE events, and the unterminated rest."""
    events, name, data = [], "", None
    text = text.replace("\r\n", "\n")
    complete, _, rest = text.rpartition("\n\n")
    for line in complete.split("\n") + [""]:
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
    return events, rest


class Reply:
    def __init__(self, method, path, status, headers, body, elapsed):
        self.method, self.path, self.status, self.headers, self.body, self.elapsed = method, path, status, headers, body, elapsed

    @property
    def content_type(self):
        return self.headers.get("content-type", "")

    def describe(self):
        body = self.body[:800].decode("utf-8", "replace")
        return "%s %s -> HTTP %d (%.2f s) %s %r" % (self.method, self.path, self.status, self.elapsed, self.content_type, body)

    def messages(self):
        """The JSON-RPC messages of the body (JSON or SSE); Malformed if it does not parse."""
        if not self.body:
            return []
        try:
            if self.content_type.startswith("text/event-stream"):
                events, rest = parse_sse(self.body.decode())
                if rest.strip() and not all(l.startswith(":") for l in rest.strip().split("\n")):
                    raise Malformed("SSE body ends inside an event: %s" % self.describe())
                return [json.loads(data) for name, data in events if name == "message"]
            value = json.loads(self.body)
            return value if isinstance(value, list) else [value]
        except (ValueError, UnicodeDecodeError) as error:
            raise Malformed("unparseable body (%s): %s" % (error, self.describe()))

    def json(self):
        try:
            return json.loads(self.body)
        except ValueError as error:
            raise Malformed("unparseable JSON (%s): %s" % (error, self.describe()))


class Client:
    """One keep-alive HTTP/1.1 connection (reopened when closed), from `source`. Like any
    well-behaved client's pool, it does not reuse a connection idle for longer than half the
    gateway's requestHeadSeconds, past which the gateway may close it (docs/guide/operations.md, "Limits")."""

    def __init__(self, port, source=WELL, timeout=60):
        self.port, self.source, self.timeout = port, source, timeout
        self.connection = None
        self.last_used = 0.0

    def close(self):
        if self.connection is not None:
            self.connection.close()
            self.connection = None

    def request(self, method, path, body=None, headers=None):
        if self.connection is not None and time.monotonic() - self.last_used > REQUEST_HEAD_SECONDS / 2:
            self.close()
        self.fresh = self.connection is None   # this request opens a new connection
        if self.connection is None:
            self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout,
                                                         source_address=(self.source, 0))
        sent = self.sent = time.monotonic()
        try:
            self.connection.request(method, path, body=body, headers=headers or {})
            response = self.connection.getresponse()
        except (OSError, http.client.HTTPException) as error:
            self.close()
            raise NoResponse("%s %s: %r" % (method, path, error), sent)
        try:
            data = response.read()
        except (OSError, http.client.HTTPException) as error:
            self.close()
            raise Malformed("%s %s: HTTP %d, body cut short: %r" % (method, path, response.status, error))
        if response.will_close:
            self.close()
        self.last_used = time.monotonic()
        return Reply(method, path, response.status, {k.lower(): v for k, v in response.getheaders()}, data,
                     time.monotonic() - sent)


def socket_holders(sock):
    """Which processes hold the gateway's end of `sock` (from `ss -tnp`), as evidence when a
    socket the gateway should have closed stays open."""
    try:
        local = "%s:%d" % sock.getsockname()
        out = subprocess.run(["ss", "-tnpH"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return "?"
    for line in out.splitlines():
        fields = line.split()
        if len(fields) >= 5 and fields[4] == local:
            holders = re.findall(r'\("([^"]+)",pid=(\d+)', line)
            return "%s, the gateway's end held by %s" % (fields[0], ", ".join("%s %s" % (name, pid) for name, pid in holders) or "nobody")
    return "the gateway's end is gone"


def raw_socket(source, port, timeout=10, rcvbuf=None):
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.bind((source, 0))
    sock.settimeout(timeout)
    sock.connect(("127.0.0.1", port))
    return sock


class RawStream:
    """A request on a raw socket whose chunked response body is read incrementally (for SSE)."""

    def __init__(self, port, source, request, rcvbuf=None):
        self.sock = raw_socket(source, port, rcvbuf=rcvbuf)
        self.sock.sendall(request)
        self.buffer = b""
        self.status, self.headers = None, {}
        self.body = b""
        self.finished = False      # the terminating 0-chunk arrived
        self.closed = False        # the peer closed the connection
        self.chunked = False
        self.consumed = 0          # bytes of `body` already returned as events

    def _recv(self, timeout):
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(65536)
        except (socket.timeout, BlockingIOError):
            return False
        except OSError:
            data = b""
        if not data:
            self.closed = True
            return False
        self.buffer += data
        return True

    def read_head(self, timeout=30):
        deadline = time.monotonic() + timeout
        while b"\r\n\r\n" not in self.buffer:
            if self.closed or time.monotonic() > deadline:
                return None
            self._recv(0.5)
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        self.status = int(lines[0].split()[1])
        self.headers = {k.strip().lower(): v.strip() for k, _, v in (l.partition(":") for l in lines[1:])}
        self.chunked = "chunked" in self.headers.get("transfer-encoding", "")
        return self.status

    def _decode(self):
        if not self.chunked:
            self.body += self.buffer
            self.buffer = b""
            return
        while not self.finished:
            line_end = self.buffer.find(b"\r\n")
            if line_end < 0:
                return
            size = int(self.buffer[:line_end].split(b";")[0], 16)
            if len(self.buffer) < line_end + 2 + size + 2:
                return
            self.body += self.buffer[line_end + 2:line_end + 2 + size]
            self.buffer = self.buffer[line_end + 2 + size + 2:]
            if size == 0:
                self.finished = True

    def poll(self, timeout):
        """New complete SSE events, after waiting up to `timeout` for data."""
        if not (self.finished or self.closed):
            if self._recv(timeout):
                while self._recv(0):
                    pass
        self._decode()
        text = self.body.decode("utf-8", "replace")
        cut = text.rfind("\n\n")
        if cut < 0 or cut + 2 <= self.consumed:
            return []
        events, _ = parse_sse(text[self.consumed:cut + 2])
        self.consumed = cut + 2
        return events

    @property
    def ended(self):
        return self.finished or self.closed

    def ended_cleanly(self):
        """Ended with the 0-chunk, or closed at an event boundary (no half-written event)."""
        rest = self.body.decode("utf-8", "replace")[self.consumed:].replace("\r\n", "\n")
        dangling = [line for line in rest.split("\n") if line and not line.startswith(":")]
        return self.finished or not dangling

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


# --- MCP -----------------------------------------------------------------------------------------

class Session:
    def __init__(self, phase, client, combo, accept=JSON_OR_SSE):
        self.phase, self.client, self.combo, self.accept = phase, client, combo, accept
        self.token = TOKENS[combo.token]
        self.sid = None
        self.next_id = 1

    def headers(self, with_session=True):
        headers = {"Authorization": "Bearer " + self.token, "Accept": self.accept, "Content-Type": "application/json"}
        if with_session and self.sid:
            headers["Mcp-Session-Id"] = self.sid
            headers["MCP-Protocol-Version"] = PROTOCOL
        return headers

    def post(self, message, with_session=True):
        reply = self.client.request("POST", self.combo.path, json.dumps(message).encode(), self.headers(with_session))
        self.phase.stats.inc("requests: mcp")
        return reply

    def rpc(self, method, params=None, with_session=True):
        """(reply, the JSON-RPC reply message). Bad unless HTTP 200 with exactly one reply."""
        request_id = self.next_id
        self.next_id += 1
        message = {"jsonrpc": "2.0", "id": request_id, "method": method}
        if params is not None:
            message["params"] = params
        reply = self.post(message, with_session)
        if reply.status != 200:
            raise Bad("%s on %s: HTTP %d" % (method, self.combo.path, reply.status), reply.describe())
        messages = reply.messages()
        for m in messages:
            if isinstance(m, dict) and "method" in m and "id" not in m:
                self.phase.stats.inc("notifications on POST streams: %s" % m["method"])
        replies = [m for m in messages if isinstance(m, dict) and m.get("id") == request_id and ("result" in m or "error" in m)]
        if len(replies) != 1 or replies[0].get("jsonrpc") != "2.0":
            what = "HTTP 200 %s with an empty body instead of the JSON-RPC reply" % reply.content_type if not reply.body \
                else "not one JSON-RPC reply with id %d" % request_id
            raise Bad("%s on %s: %s" % (method, self.combo.path, what),
                      "session %s, Accept %s, sent at %s: %s" % (self.sid, self.accept, time.strftime("%H:%M:%S"), reply.describe()))
        return reply, replies[0]

    def result(self, method, params=None):
        reply, message = self.rpc(method, params)
        if "result" not in message:
            raise Bad("%s on %s (%s): error instead of a result" % (method, self.combo.path, self.combo.name), reply.describe())
        return reply, message["result"]

    def refused(self, method, params, pattern):
        reply, message = self.rpc(method, params)
        error = message.get("error")
        if not isinstance(error, dict) or error.get("code") != -32602 or not re.search(pattern, error.get("message", "")):
            raise Bad("%s on %s (%s): expected -32602 /%s/" % (method, self.combo.path, self.combo.name, pattern), reply.describe())
        self.phase.stats.inc("refused as expected: %s" % method)

    def initialize(self):
        self.sid = None
        reply, message = self.rpc("initialize", {"protocolVersion": PROTOCOL, "capabilities": {},
                                                 "clientInfo": {"name": "soak", "version": "1"}}, with_session=False)
        result = message.get("result")
        sid = reply.headers.get("mcp-session-id")
        if not sid or not isinstance(result, dict) or result.get("protocolVersion") != PROTOCOL:
            raise Bad("initialize on %s: no session or a wrong result" % self.combo.path, reply.describe())
        if self.combo.kind == "sample" and not (result.get("capabilities", {}).get("tools", {}).get("listChanged") is True):
            raise Bad("initialize on %s: tools.listChanged is not true" % self.combo.path, reply.describe())
        self.sid = sid
        self.phase.stats.inc("sessions opened")
        if self.phase.after_sigterm(self.client.sent - 0.1):
            # Connected and sent at least 100 ms after the SIGTERM, and answered with a session.
            what = "new connections" if self.client.fresh else "kept-alive connections"
            self.phase.stats.inc("after SIGTERM: sessions opened on %s" % what)
            self.phase.stats.maximum("after SIGTERM: last session opened on %s (s after the signal)" % what,
                                     self.client.sent - self.phase.sigterm_at)
        notified = self.post({"jsonrpc": "2.0", "method": "notifications/initialized"})
        if notified.status != 202:
            raise Bad("notifications/initialized: HTTP %d (expected 202)" % notified.status, notified.describe())
        return sid

    def delete(self):
        reply = self.client.request("DELETE", self.combo.path, None, self.headers())
        self.phase.stats.inc("requests: mcp")
        if reply.status != 204:
            raise Bad("DELETE of a session on %s: HTTP %d (expected 204)" % (self.combo.path, reply.status), reply.describe())
        self.phase.stats.inc("sessions deleted")
        self.sid = None

    def tools(self):
        names, cursor = [], None
        for _ in range(50):
            reply, result = self.result("tools/list", {"cursor": cursor} if cursor else {})
            if not isinstance(result.get("tools"), list):
                raise Bad("tools/list without a tools array", reply.describe())
            names += [tool["name"] for tool in result["tools"]]
            cursor = result.get("nextCursor")
            if not cursor:
                return names
        raise Bad("tools/list on %s: more than 50 pages" % self.combo.path)

    def check_tools(self):
        names = self.tools()
        both, either = self.combo.tools[0] & self.combo.tools[1], self.combo.tools[0] | self.combo.tools[1]
        if len(names) != len(set(names)) or not both <= set(names) <= either:
            raise Bad("tools/list on %s for %s: %s (expected every one of %s, nothing outside %s)"
                      % (self.combo.path, self.combo.name, sorted(names), sorted(both), sorted(either)))
        self.phase.stats.inc("tools/list checked")
        return names

    def echo(self, rng):
        text = "soak-%d-%s" % (rng.randrange(10 ** 9), "é" * rng.randrange(3))
        reply, result = self.result("tools/call", {"name": "echo", "arguments": {"text": text}})
        content = result.get("content")
        if result.get("isError") or not content or content[0].get("text") != text:
            raise Bad("echo on %s returned something other than its text %r" % (self.combo.path, text), reply.describe())
        self.phase.stats.inc("echo calls checked")


def run_session(phase, client, combo, rng):
    """One session of `combo`, from initialize to DELETE (or left to idle out)."""
    stats = phase.stats
    accept = "text/event-stream" if rng.random() < 0.3 else JSON_OR_SSE
    session = Session(phase, client, combo, accept)
    session.initialize()
    if combo.kind == "crashy":
        if session.tools() != ["work"]:
            raise Bad("tools/list of the crashing upstream", "")
        session.result("ping")
        reply, message = session.rpc("tools/call", {"name": "work", "arguments": {}})
        error = message.get("error") or {}
        if "result" in message or not re.search(r"(?i)session ended|upstream", error.get("message", "")):
            raise Bad("tools/call on the crashing upstream: expected an upstream-failure error", reply.describe())
        stats.inc("upstream crashes (documented failure reply)")
        # The session ended with its upstream; its id re-creates it, with a new process.
        after = session.post({"jsonrpc": "2.0", "id": 99, "method": "ping"})
        if after.status != 200 or not any("result" in m for m in after.messages()):
            raise Bad("the request after an upstream crash: HTTP %d (expected 200 from the re-created session)" % after.status, after.describe())
        stats.inc("re-created after a crash")
        session.result("ping")
        session.delete()
        return
    if combo.kind in ("drip", "stubborn"):
        if session.tools() != ["work"]:
            raise Bad("tools/list of %s" % combo.path, "")
        reply, result = session.result("tools/call", {"name": "work", "arguments": {}})
        expected = "slow " * 20 if combo.kind == "drip" else "worked"
        if (result.get("content") or [{}])[0].get("text") != expected:
            raise Bad("tools/call on %s: wrong text" % combo.path, reply.describe())
        stats.inc("%s calls checked" % combo.kind)
        session.delete()
        return
    session.check_tools()
    session.echo(rng)
    if combo.refused:
        session.refused("tools/call", {"name": combo.refused, "arguments": {"name": "x", "text": "x"}},
                        r"^Tool %s is not permitted for " % combo.refused)
    if combo.toggled:
        reply, message = session.rpc("tools/call", {"name": combo.toggled, "arguments": {"a": 2, "b": 3}})
        if "result" in message:
            if (message["result"].get("content") or [{}])[0].get("text") != "5":
                raise Bad("add(2, 3) did not return 5", reply.describe())
            stats.inc("toggled tool: allowed (variant A)")
        elif message.get("error", {}).get("code") == -32602 and "not permitted" in message["error"].get("message", ""):
            stats.inc("toggled tool: refused (variant B)")
        else:
            raise Bad("toggled tool call: neither its result nor a refusal", reply.describe())
    if combo.prompts:
        reply, result = session.result("prompts/get", {"name": "summarize", "arguments": {"topic": "soak"}})
        if not result.get("messages"):
            raise Bad("prompts/get summarize without messages", reply.describe())
        stats.inc("prompts/get checked")
    else:
        session.refused("prompts/get", {"name": "summarize", "arguments": {"topic": "soak"}}, r"^Prompt summarize is not permitted")
    if combo.resources:
        reply, result = session.result("resources/read", {"uri": "notes://readme"})
        if (result.get("contents") or [{}])[0].get("uri") != "notes://readme":
            raise Bad("resources/read notes://readme: wrong contents", reply.describe())
        stats.inc("resources/read checked")
    else:
        session.refused("resources/read", {"uri": "notes://readme"}, r"^Resource notes://readme is not permitted")
    session.echo(rng)
    if rng.random() < 0.12:
        stats.inc("sessions left to idle out")
        return
    deleted = session.sid
    session.delete()
    if rng.random() < 0.2:
        headers = dict(session.headers(False), **{"Mcp-Session-Id": deleted, "MCP-Protocol-Version": PROTOCOL})
        after = session.client.request("POST", combo.path, json.dumps({"jsonrpc": "2.0", "id": 7, "method": "ping"}).encode(), headers)
        stats.inc("requests: mcp")
        if after.status != 404:
            raise Bad("a request on a deleted session: HTTP %d (expected 404)" % after.status, after.describe())
        stats.inc("404 on a deleted session")


def record_failure(phase, error, context):
    """Classifies a worker's exception; in phase 4, after the SIGTERM, a complete refusal or a
    connection refused is clean, a cut-short body never is."""
    stats = phase.stats
    if isinstance(error, Malformed):
        stats.violation("half-written or malformed response (%s)" % phase.name, "%s: %s" % (context, error))
    elif isinstance(error, NoResponse):
        if phase.after_sigterm(error.at):
            stats.inc("after SIGTERM: connection refused or closed before a response")
            if error.sent_at < phase.sigterm_at:
                stats.inc("after SIGTERM: sent before the SIGTERM, closed without a response")
            return "gone"
        stats.violation("connection error of a well-behaved client (%s)" % phase.name, "%s: %s" % (context, error))
    elif isinstance(error, Bad):
        if phase.after_sigterm(error.at):
            stats.inc("after SIGTERM: complete refusal or ended-session reply")
            return None
        stats.violation("wrong reply: %s" % re.sub(r"\bid \d+", "id N", error.what), "%s\n%s" % (context, error.evidence))
    else:
        stats.violation("client exception (%s)" % phase.name, "%s: %s" % (context, traceback.format_exc()))
    return None


def churn_worker(phase, index):
    rng = random.Random(index * 7919 + int(time.time()))
    weights = [combo.weight for combo in COMBOS]
    while phase.running():
        combo = rng.choices(COMBOS, weights)[0]
        client = Client(phase.port)
        try:
            run_session(phase, client, combo, rng)
            phase.stats.inc("sessions completed")
        except (NoResponse, Malformed, Bad) as error:
            if record_failure(phase, error, "worker %d, %s on %s" % (index, combo.name, combo.path)) == "gone":
                break
            if phase.sigterm_at is not None:
                phase.sleep(0.05)   # refused during the shutdown: do not spin
        except Exception as error:  # noqa: BLE001 - recorded as a violation
            record_failure(phase, error, "worker %d" % index)
        finally:
            client.close()


def listener(phase, index, reload_counter):
    """bob's session on acme/notes with a GET stream: list_changed arrives on every reload, and
    the session keeps working; DELETE ends the stream."""
    rng = random.Random(index)
    combo = COMBOS[4]
    while phase.running():
        client = Client(phase.port)
        stream = None
        try:
            session = Session(phase, client, combo)
            session.initialize()
            stream = RawStream(phase.port, WELL, (
                "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nAuthorization: Bearer %s\r\nAccept: text/event-stream\r\n"
                "Mcp-Session-Id: %s\r\nMCP-Protocol-Version: %s\r\n\r\n"
                % (combo.path, phase.port, session.token, session.sid, PROTOCOL)).encode())
            status = stream.read_head()
            if status != 200 or not stream.headers.get("content-type", "").startswith("text/event-stream"):
                raise Bad("GET stream: HTTP %s %r" % (status, stream.headers))
            lifetime = rng.uniform(8, 15)
            started, writes_before, changes = time.monotonic(), reload_counter(), 0
            while phase.running() and time.monotonic() - started < lifetime:
                for name, data in stream.poll(0.3):
                    message = json.loads(data)
                    if message.get("method") == "notifications/tools/list_changed":
                        changes += 1
                        session.check_tools()
                if stream.ended:
                    if phase.sigterm_at is not None:
                        break
                    raise Bad("the GET stream of a live session ended", stream.body[-500:])
                session.echo(rng)
            writes = reload_counter() - writes_before
            phase.stats.inc("listener: list_changed received", changes)
            phase.stats.inc("listener: reloads written while listening", writes)
            if phase.sigterm_at is None and writes >= 3 and changes == 0:
                raise Bad("no notifications/tools/list_changed on a GET stream across %d reloads" % writes)
            if phase.sigterm_at is not None:
                deadline = time.monotonic() + SIGTERM_EXIT_BOUND + 5
                while not stream.ended and time.monotonic() < deadline:
                    stream.poll(0.5)
                if stream.ended and not stream.ended_cleanly():
                    phase.stats.violation("a GET stream was cut inside an event at shutdown", stream.body[-500:])
                phase.stats.inc("after SIGTERM: GET streams ended (%s)" % ("0-chunk" if stream.finished else "closed at an event boundary" if stream.ended else "still open"))
                return
            session.delete()
            deadline = time.monotonic() + 5
            while not stream.ended and time.monotonic() < deadline:
                stream.poll(0.2)
            if not stream.ended:
                raise Bad("the GET stream did not end within 5 s of DELETE")
            phase.stats.inc("listener sessions")
        except (NoResponse, Malformed, Bad) as error:
            if record_failure(phase, error, "listener %d" % index) == "gone":
                break
        except Exception as error:  # noqa: BLE001
            record_failure(phase, error, "listener %d" % index)
        finally:
            client.close()
            if stream:
                stream.close()


# --- pollers -------------------------------------------------------------------------------------

def parse_metrics(text):
    values = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)$", line)
        if not match:
            continue
        labels = frozenset(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match.group(3) or ""))
        values[(match.group(1), labels)] = float(match.group(4))
    return values


def metric(values, name, **labels):
    """The sum of `name` over the series matching `labels`."""
    wanted = set(labels.items())
    return sum(v for (n, l), v in values.items() if n == name and wanted <= set(l))


def fetch_metrics(port, source=WELL):
    client = Client(port, source, timeout=30)
    try:
        reply = client.request("GET", "/metrics")
    finally:
        client.close()
    if reply.status != 200:
        raise Bad("/metrics: HTTP %d" % reply.status, reply.describe())
    return parse_metrics(reply.body.decode())


def admin_poller(phase, digests, gauge_peaks):
    """Every 0.5 s /api/v1/policy (lastReload.ok, a known digest); every 1 s /metrics (gauge
    peaks); every 10 s /api/v1/tools (no errors)."""
    client = Client(phase.port)
    headers = {"Authorization": "Bearer " + TOKENS["alice"]}
    tick = 0
    seen = set()
    while phase.running():
        try:
            reply = client.request("GET", "/api/v1/policy", headers=headers)
            phase.stats.inc("requests: admin")
            body = reply.json()
            last = body.get("lastReload") or {}
            if reply.status != 200 or last.get("ok") is not True or body.get("digest") not in digests:
                raise Bad("/api/v1/policy: lastReload not ok or an unknown digest", reply.describe())
            seen.add(body["digest"])
            if tick % 2 == 0:
                values = fetch_metrics(phase.port)
                phase.stats.inc("requests: admin")
                for name in ("orch_sessions_active", "orch_upstream_processes"):
                    gauge_peaks[name] = max(gauge_peaks.get(name, 0), metric(values, name))
            if tick % 20 == 5:
                reply = client.request("GET", "/api/v1/tools", headers=headers)
                phase.stats.inc("requests: admin")
                body = reply.json()
                if reply.status != 200 or body.get("errors") or len(body.get("tools", [])) < 20:
                    raise Bad("/api/v1/tools: HTTP %d, errors or missing tools" % reply.status, reply.describe())
                phase.stats.inc("/api/v1/tools checked")
        except (NoResponse, Malformed, Bad) as error:
            if record_failure(phase, error, "admin poller") == "gone":
                break
        tick += 1
        phase.sleep(0.5)
    client.close()
    phase.stats.inc("policy digests seen", len(seen))


def reloader(phase, path, variants):
    """Rewrites orch.json every second, temp file + os.replace, alternating the variants."""
    index = 0
    while phase.running():
        phase.sleep(1.0)
        if not phase.running():
            break
        index += 1
        data = variants[index % 2]
        temp = path + ".tmp"
        with open(temp, "wb") as f:
            f.write(data)
        os.replace(temp, path)
        phase.reload_writes += 1


# --- hostile clients -----------------------------------------------------------------------------

def flood(phase, source, mode, rate=150):
    """Unauthenticated requests as fast as `rate` a second: bad or huge tokens, huge Origins."""
    client = Client(phase.port, source, timeout=30)
    paths = ["/api/v1/me", "/api/v1/servers", "/api/v1/policy"]
    rng = random.Random(source)
    n = 0
    started = time.monotonic()
    while phase.running():
        n += 1
        if mode == "token":
            token = "orch_bad_" + ("t" * 6000 if n % 3 == 0 else secrets.token_hex(16))
            headers, expected = {"Authorization": "Bearer " + token}, 401
            if n % 4 == 0:
                path, method, body = "/orgs/acme/servers/notes/mcp", "POST", b'{"jsonrpc":"2.0","id":1,"method":"ping"}'
                headers["Content-Type"] = "application/json"
                headers["Accept"] = JSON_OR_SSE
            else:
                path, method, body = rng.choice(paths), "GET", None
        else:
            headers = {"Origin": "http://" + "o" * 8000 + ".example.com"}
            if n % 2 == 0:
                headers["Authorization"] = "Bearer orch_bad_" + secrets.token_hex(8)
            path, method, body, expected = rng.choice(paths), "GET", None, 403
        try:
            reply = client.request(method, path, body, headers)
            phase.stats.inc("hostile: flood responses")
            if reply.status == expected:
                phase.stats.inc("hostile: flood refused %d" % expected)
            else:
                phase.stats.violation("unauthenticated flood: HTTP %d (expected %d)" % (reply.status, expected), reply.describe())
        except (NoResponse, Malformed) as error:
            phase.stats.inc("hostile: flood connection errors")
            if isinstance(error, Malformed):
                phase.stats.violation("unauthenticated flood: a cut-short response", str(error))
        ahead = n / rate - (time.monotonic() - started)
        if ahead > 0:
            phase.sleep(ahead)
    client.close()


def idle_sockets(phase, count=MAX_CONNECTIONS_PER_CLIENT + 16):
    """Rounds of `count` sockets from one address that never send anything: past
    maxConnectionsPerClient they are closed at once, the rest after requestHeadSeconds."""
    stats = phase.stats
    while phase.running():
        socks, opened = [], time.monotonic()
        for _ in range(count):
            try:
                socks.append(raw_socket(IDLE_ADDRESS, phase.port, timeout=5))
            except OSError:
                stats.inc("hostile: idle sockets not connected")
        for sock in socks:
            sock.setblocking(False)
        open_ = set(socks)
        limit = REQUEST_HEAD_SECONDS + CLOSE_SLACK_SECONDS
        flagged = False
        # Past the limit it is a violation; the sockets are still watched (up to 30 s) to measure
        # how long they are really held.
        while open_ and time.monotonic() - opened < GIVE_UP_SECONDS and not phase.stop.is_set():
            if not flagged and time.monotonic() - opened > limit + 1:
                flagged = True
                stats.violation("idle sockets still open past requestHeadSeconds %d + %.0f s" % (REQUEST_HEAD_SECONDS, CLOSE_SLACK_SECONDS),
                                "%d of %d sockets open %.1f s after connecting; the first: %s"
                                % (len(open_), len(socks), time.monotonic() - opened, socket_holders(next(iter(open_)))))
            readable, _, _ = select.select(list(open_), [], [], 0.2)
            for sock in readable:
                try:
                    data = sock.recv(1024)
                except OSError:
                    data = b""
                if data:
                    stats.inc("hostile: idle sockets answered with data")
                held = time.monotonic() - opened
                open_.discard(sock)
                if held <= IMMEDIATE_CLOSE_SECONDS:
                    stats.inc("hostile: idle sockets closed at once (per-client limit)")
                else:
                    stats.inc("hostile: idle sockets closed after the request-head timeout")
                    stats.maximum("idle socket held (s)", held)
        if open_ and not phase.stop.is_set():
            stats.maximum("idle socket held (s)", GIVE_UP_SECONDS)
        for sock in socks:
            sock.close()
        phase.sleep(0.5)


def slowloris(phase, width=8):
    """`width` sockets each dribbling a request head, a byte every 0.25 s: each must be closed
    within requestHeadSeconds (+ slack)."""
    stats = phase.stats
    head = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 4000
    socks = {}
    while phase.running():
        while len(socks) < width and phase.running():
            try:
                sock = raw_socket(SLOWLORIS_ADDRESS, phase.port, timeout=5)
                sock.setblocking(False)
                socks[sock] = [time.monotonic(), 0, False]
            except OSError:
                stats.inc("hostile: slowloris connect failures")
                phase.sleep(0.2)
        for sock, state in list(socks.items()):
            closed = False
            try:
                data = sock.recv(1024)
                closed = True
                if data:
                    stats.inc("hostile: slowloris answered with data")
            except BlockingIOError:
                pass
            except OSError:
                closed = True
            if not closed:
                try:
                    sock.send(head[state[1]:state[1] + 1])
                    state[1] += 1
                except BlockingIOError:
                    pass
                except OSError:
                    closed = True
            held = time.monotonic() - state[0]
            if closed:
                stats.inc("hostile: slowloris sockets closed by the gateway")
                stats.maximum("slowloris socket held (s)", held)
            elif held > REQUEST_HEAD_SECONDS + CLOSE_SLACK_SECONDS and not state[2]:
                state[2] = True    # a violation; still watched, to measure how long it is held
                stats.violation("a slowloris socket was held past requestHeadSeconds %d + %.0f s" % (REQUEST_HEAD_SECONDS, CLOSE_SLACK_SECONDS),
                                "held %.1f s, %d bytes of head sent; %s" % (held, state[1], socket_holders(sock)))
            elif held > GIVE_UP_SECONDS:
                stats.maximum("slowloris socket held (s)", held)
                closed = True
            if closed:
                sock.close()
                del socks[sock]
        phase.sleep(0.25)
    for sock in socks:
        sock.close()


def dribble_after_first(phase):
    """After one complete request on a kept-alive connection, the next head is dribbled a byte a
    second: with nothing in progress, the head is due within requestHeadSeconds (+ slack)."""
    stats = phase.stats
    while phase.running():
        try:
            sock = raw_socket(DRIBBLE_ADDRESS, phase.port, timeout=5)
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            data = b""
            while b'{"status":"ok"}' not in data:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                data += chunk
            sock.setblocking(False)
        except OSError:
            stats.inc("hostile: dribble connect failures")
            phase.sleep(1)
            continue
        started, sent, flagged = time.monotonic(), 0, False
        head = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 15000
        closed = False
        while phase.running() and not closed and sent < len(head):
            try:
                if sock.recv(1024) == b"":
                    closed = True
            except BlockingIOError:
                pass
            except OSError:
                closed = True
            held = time.monotonic() - started
            if not closed and held > REQUEST_HEAD_SECONDS + CLOSE_SLACK_SECONDS and not flagged:
                flagged = True
                stats.violation("a kept-alive connection dribbling its next request head was held past requestHeadSeconds %d + %.0f s"
                                % (REQUEST_HEAD_SECONDS, CLOSE_SLACK_SECONDS), "held %.1f s, %d bytes sent; %s" % (held, sent, socket_holders(sock)))
            if not closed and held > GIVE_UP_SECONDS:
                break
            if not closed:
                try:
                    sock.send(head[sent:sent + 1])
                    sent += 1
                except BlockingIOError:
                    pass
                except OSError:
                    closed = True
            phase.sleep(1.0 if held < REQUEST_HEAD_SECONDS - 1 else 0.25)
        held = time.monotonic() - started
        stats.maximum("second-request dribble held (s)", held)
        stats.inc("hostile: second-request dribbles %s" % ("closed by the gateway" if closed else "ended by the soak"))
        sock.close()


def slow_bodies(phase, width=MAX_CONNECTIONS_PER_CLIENT):
    """`width` connections (the address's whole allowance) each sending a request head and then
    its body a byte every 0.5 s, into POST /ui/signin (no credentials) or an MCP POST with a key
    (with a session header: collected on the fast path; without: read by the router). A body must
    keep 1 KiB/s after a grace of requestHeadSeconds, so each must be closed within that grace
    (+ slack); a cut connection is replaced at once."""
    stats = phase.stats
    heads = [b"POST /ui/signin HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\n"
             b"Content-Length: 10000\r\n\r\ntoken="]
    for session in (secrets.token_hex(16), None):
        lines = ["POST /orgs/acme/servers/notes/mcp HTTP/1.1", "Host: 127.0.0.1", "Authorization: Bearer " + TOKENS["mallory"],
                 "Content-Type: application/json", "Accept: " + JSON_OR_SSE, "Content-Length: 100000"]
        if session:
            lines.append("Mcp-Session-Id: " + session)
        heads.append(("\r\n".join(lines) + "\r\n\r\n").encode() + b'{"jsonrpc":"2.0","id":1,"method":"ping","params":{"x":"')
    socks, opened = {}, 0
    limit = SLOW_BODY_GRACE_SECONDS + CLOSE_SLACK_SECONDS
    while phase.running():
        while len(socks) < width and phase.running():
            try:
                sock = raw_socket(SLOWBODY_ADDRESS, phase.port, timeout=5)
                sock.sendall(heads[opened % len(heads)])
                sock.setblocking(False)
                socks[sock] = [time.monotonic(), False]
                opened += 1
            except OSError:
                stats.inc("hostile: slow-body connect failures")
                phase.sleep(0.2)
                break
        for sock, state in list(socks.items()):
            closed = answered = False
            try:
                data = sock.recv(4096)
                closed, answered = not data, bool(data)
            except BlockingIOError:
                pass
            except OSError:
                closed = True
            if not closed and not answered:
                try:
                    sock.send(b"a")
                except BlockingIOError:
                    pass
                except OSError:
                    closed = True
            held = time.monotonic() - state[0]
            if answered:
                # Not what a slow body gets; dropped, and counted apart from the cut ones.
                stats.inc("hostile: slow bodies answered before they were cut")
                closed = True
            elif closed and held <= IMMEDIATE_CLOSE_SECONDS:
                # A replacement that came before the gateway had counted its predecessor closed.
                stats.inc("hostile: slow bodies closed at once (per-client limit)")
            elif closed:
                stats.inc("hostile: slow bodies cut by the gateway")
                stats.maximum("slow body held (s)", held)
            elif held > limit and not state[1]:
                state[1] = True    # a violation; still watched, to measure how long it is held
                stats.violation("a slowly sent request body was held past requestHeadSeconds %d + %.0f s" % (SLOW_BODY_GRACE_SECONDS, CLOSE_SLACK_SECONDS),
                                "held %.1f s; %s" % (held, socket_holders(sock)))
            elif held > GIVE_UP_SECONDS:
                stats.maximum("slow body held (s)", held)
                closed = True
            if closed:
                sock.close()
                del socks[sock]
        phase.sleep(0.5)
    for sock in socks:
        sock.close()


def aggregate_flood(phase, rate=100):
    """mallory opens aggregated sessions on /orgs/acme/mcp as fast as `rate` a second and ends
    none: one initialize in ten carries a 1 MiB `_meta` (the session must not keep it), one in ten
    capabilities past what a session keeps (400, -32602); the others are small. Every
    session lives at least sessionIdleSeconds, so more than maxSessionsPerKey opened within that
    long means they are not counted; past the count, 429 `too_many_sessions`."""
    stats = phase.stats
    client = Client(phase.port, AGGREGATE_FLOOD_ADDRESS, timeout=30)
    headers = {"Authorization": "Bearer " + TOKENS["mallory"], "Content-Type": "application/json", "Accept": JSON_OR_SSE,
               "MCP-Protocol-Version": PROTOCOL}
    padding = "m" * (1 << 20)
    opened = collections.deque()
    n, flagged = 0, False
    started = time.monotonic()
    while phase.running():
        n += 1
        params = {"protocolVersion": PROTOCOL, "capabilities": {}, "clientInfo": {"name": "soak-flood", "version": "1"}}
        expected = (200, 429)
        if n % 10 == 0:
            params["capabilities"] = {"experimental": {"blob": "c" * KEPT_INITIALIZE_BYTES}}
            expected = (400,)
        elif n % 10 == 5:
            params["_meta"] = {"padding": padding}
        body = json.dumps({"jsonrpc": "2.0", "id": n, "method": "initialize", "params": params})
        try:
            reply = client.request("POST", "/orgs/acme/mcp", body, headers)
        except (NoResponse, Malformed) as error:
            stats.violation("aggregated-session flood: no response", str(error))
            phase.sleep(0.5)
            continue
        stats.inc("hostile: aggregated flood HTTP %d" % reply.status)
        if reply.status not in expected:
            stats.violation("aggregated-session flood: HTTP %d (expected %s)" % (reply.status, " or ".join(map(str, expected))), reply.describe())
        elif reply.status == 429 and b"too_many_sessions" not in reply.body:
            stats.violation("aggregated-session flood: a 429 that is not too_many_sessions", reply.describe())
        elif reply.status == 200:
            now = time.monotonic()
            opened.append(now)
            while opened and now - opened[0] > SESSION_IDLE_SECONDS:
                opened.popleft()
            stats.maximum("aggregated sessions opened within sessionIdleSeconds", len(opened))
            if len(opened) > MAX_SESSIONS_PER_KEY and not flagged:
                flagged = True
                stats.violation("one key opened more aggregated sessions than maxSessionsPerKey %d within sessionIdleSeconds %d"
                                % (MAX_SESSIONS_PER_KEY, SESSION_IDLE_SECONDS), "%d opened in %.1f s" % (len(opened), now - opened[0]))
        ahead = n / rate - (time.monotonic() - started)
        if ahead > 0:
            phase.sleep(ahead)
    client.close()


def slow_reader(phase, hold=6.0):
    """sam's sessions from 127.0.0.4: a GET stream, or a 1 MiB streamed echo, never read for
    `hold` s, then the socket is dropped; half the sessions are then deleted, half left to idle."""
    stats = phase.stats
    combo = Combo("sam", "sam", "acme", "notes")
    n = 0
    while phase.running():
        n += 1
        client = Client(phase.port, SLOWREAD_ADDRESS)
        stream = None
        try:
            session = Session(phase, client, combo)
            session.initialize()
            auth = "Authorization: Bearer %s\r\nMcp-Session-Id: %s\r\nMCP-Protocol-Version: %s\r\n" % (session.token, session.sid, PROTOCOL)
            if n % 2:
                request = ("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n%s\r\n" % (combo.path, auth)).encode()
            else:
                body = json.dumps({"jsonrpc": "2.0", "id": 5, "method": "tools/call",
                                   "params": {"name": "echo", "arguments": {"text": "r" * (1 << 20)}}}).encode()
                request = ("POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\nContent-Type: application/json\r\n"
                           "Content-Length: %d\r\n%s\r\n" % (combo.path, len(body), auth)).encode() + body
            stream = RawStream(phase.port, SLOWREAD_ADDRESS, request, rcvbuf=4096)
            deadline = time.monotonic() + hold
            while phase.running() and time.monotonic() < deadline:
                if phase.sigterm_at is not None:
                    deadline = time.monotonic() + SIGTERM_EXIT_BOUND + 5   # hold through the shutdown
                phase.sleep(0.2)
            stats.inc("hostile: slow-read %s held unread" % ("GET streams" if n % 2 else "1 MiB streamed replies"))
            stream.close()
            stream = None
            if phase.sigterm_at is not None:
                return
            if n % 4 == 1:
                session.delete()      # its GET stream kept it open: it must still be there
            elif n % 4 == 0:
                # A POST stream is not an open stream: once the reply is queued the session has
                # nothing pending, and may idle out (docs/guide/operations.md) while the client does not read.
                reply = client.request("DELETE", combo.path, None, session.headers())
                stats.inc("requests: mcp")
                if reply.status == 404:
                    stats.inc("slow reader: session idled out while its reply was unread (404 on DELETE)")
                elif reply.status != 204:
                    raise Bad("DELETE after an unread streamed reply: HTTP %d (expected 204, or 404 once idle)" % reply.status,
                              reply.describe())
            else:
                stats.inc("sessions left to idle out")
        except (NoResponse, Malformed, Bad) as error:
            if record_failure(phase, error, "slow reader") == "gone":
                break
        except Exception as error:  # noqa: BLE001
            record_failure(phase, error, "slow reader")
        finally:
            client.close()
            if stream:
                stream.close()


# --- the gateway process -------------------------------------------------------------------------

def proc_rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def children(pid):
    """(live children, zombie children) of `pid`."""
    live, zombies = [], []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid:
            (zombies if fields[0] == "Z" else live).append(int(entry))
    return live, zombies


def marked_processes():
    """Live processes started for this run (their environment holds SOAK_RUN=<run id>)."""
    marker = ("SOAK_RUN=" + RUN_ID).encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open("/proc/%s/environ" % entry, "rb") as f:
                if marker in f.read().split(b"\0"):
                    with open("/proc/%s/stat" % entry) as s:
                        if s.read().rsplit(")", 1)[1].split()[0] != "Z":
                            found.append(int(entry))
        except OSError:
            continue
    return found


def kill_marked():
    """SIGKILLs what this run started and left behind (its environment holds SOAK_RUN=<run id>)."""
    for pid in marked_processes():
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def describe(pids):
    out = []
    for pid in pids:
        try:
            with open("/proc/%d/cmdline" % pid, "rb") as f:
                out.append("%d %s" % (pid, f.read().replace(b"\0", b" ").decode(errors="replace")[:120]))
        except OSError:
            out.append("%d (gone)" % pid)
    return "; ".join(out)


class Gateway:
    def __init__(self, folder):
        self.folder = folder
        self.config = os.path.join(folder, "orch.json")
        self.audit = os.path.join(folder, "audit.jsonl")
        self.log_path = os.path.join(folder, "orch.log")
        self.log = open(self.log_path, "wb")
        self.process = subprocess.Popen([ORCH, "serve", self.config, "--listen", "127.0.0.1:0"], stdout=self.log,
                                        stderr=subprocess.STDOUT, env=dict(os.environ, ORCH_LOG_LEVEL="info"))
        self.pid = self.process.pid
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with open(self.log_path, "rb") as f:
                match = re.search(rb"orch is serving .* on http://127\.0\.0\.1:(\d+)", f.read())
            if match:
                self.port = int(match.group(1))
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        raise SystemExit("orch serve did not start; log:\n" + open(self.log_path, errors="replace").read())

    def sample(self):
        live, zombies = children(self.pid)
        return {"rss_kib": proc_rss_kib(self.pid), "fds": len(os.listdir("/proc/%d/fd" % self.pid)),
                "threads": len(os.listdir("/proc/%d/task" % self.pid)), "children": len(live), "zombies": len(zombies)}

    def gauges(self):
        values = fetch_metrics(self.port)
        return values, {"sessions": metric(values, "orch_sessions_active"), "processes": metric(values, "orch_upstream_processes")}


def sampler(phase, gateway, peaks):
    while phase.running():
        if gateway.process.poll() is not None:
            if phase.sigterm_at is None:
                phase.stats.violation("the gateway exited during the load", "exit status %s; log tail:\n%s"
                                      % (gateway.process.returncode, open(gateway.log_path, errors="replace").read()[-3000:]))
                phase.stop.set()
            return
        try:
            s = gateway.sample()
        except OSError:
            phase.sleep(0.5)
            continue
        for key, value in s.items():
            peaks[key] = max(peaks.get(key, 0), value)
        phase.sleep(0.5)


def start_wrk(port, seconds):
    env = dict(os.environ, SOAK_TOKEN=TOKENS["bob"])
    return subprocess.Popen(["wrk", "-t1", "-c%d" % WRK_CONNECTIONS, "-d%ds" % max(1, int(seconds)), "--timeout", "10s",
                             "-s", WRK_SCRIPT, "http://127.0.0.1:%d/api/v1/me" % port],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True)


def wrk_result(process, timeout):
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
    match = re.search(r"soak_wrk (.*)", output or "")
    if not match:
        return None, output
    return {k: int(v) for k, v in (item.split("=") for item in match.group(1).split())}, output


def start_threads(specs):
    threads = []
    for name, target, args in specs:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        thread.start()
        threads.append(thread)
    return threads


def join_threads(phase, threads, timeout):
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(max(0.1, deadline - time.monotonic()))
    hung = [t for t in threads if t.is_alive()]
    if hung:
        phase.stats.violation("client threads still running %d s after the load stopped (a request hung)" % timeout,
                              "; ".join(in_request(hung, holders=True)))


def in_request(threads, holders=False):
    """What each of `threads` is waiting on: "NAME: waiting on METHOD PATH (session S)"."""
    frames = sys._current_frames()
    details = []
    for thread in threads:
        where, session, frame = "", None, frames.get(thread.ident)
        while frame is not None:
            owner = frame.f_locals.get("self")
            if isinstance(owner, Session) and session is None:
                session = owner.sid
            if frame.f_code.co_name == "request" and isinstance(owner, Client) and owner.connection is not None:
                sock = owner.connection.sock
                where = "waiting on %s %s from %s" % (frame.f_locals.get("method"), frame.f_locals.get("path"),
                                                      "%s:%d" % sock.getsockname() if sock else "?")
                if holders and sock:
                    where += "; " + socket_holders(sock)
            frame = frame.f_back
        if where:
            details.append("%s: %s%s" % (thread.name, where, " (session %s)" % session if session else ""))
    return details or ["no client thread in a request"]


def gateway_connections(pid, port):
    """The gateway's open connections (peer address and state), from `ss -tnp`."""
    try:
        out = subprocess.run(["ss", "-tnpH"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return ["?"]
    found = []
    for line in out.splitlines():
        f = line.split()
        if len(f) >= 6 and f[3].endswith(":%d" % port) and "pid=%d," % pid in line:
            found.append("%s %s" % (f[4], f[0]))
    return found or ["none"]


def load_threads(phase, workers, digests, gauge_peaks, reload_path, variants, hostile=True):
    specs = [("churn-%d" % i, churn_worker, (phase, i)) for i in range(workers)]
    specs += [("listener-%d" % i, listener, (phase, i, lambda: phase.reload_writes)) for i in range(2)]
    specs += [("admin", admin_poller, (phase, digests, gauge_peaks))]
    if reload_path:
        specs += [("reloader", reloader, (phase, reload_path, variants))]
    if hostile:
        specs += [("flood-token", flood, (phase, FLOOD_ADDRESSES[0], "token")),
                  ("flood-origin", flood, (phase, FLOOD_ADDRESSES[1], "origin")),
                  ("idle-sockets", idle_sockets, (phase,)),
                  ("slowloris", slowloris, (phase,)),
                  ("dribble", dribble_after_first, (phase,)),
                  ("slow-reader", slow_reader, (phase,)),
                  ("slow-bodies", slow_bodies, (phase,)),
                  ("aggregate-flood", aggregate_flood, (phase,))]
    return start_threads(specs)


# --- checks --------------------------------------------------------------------------------------

def audit_lines(path):
    """(records, bad lines, ends with a newline)."""
    with open(path, "rb") as f:
        data = f.read()
    records, bad = [], []
    for line in data.split(b"\n"):
        if not line:
            continue
        try:
            records.append((json.loads(line), len(line) + 1))
        except ValueError:
            bad.append(line[:300])
    return records, bad, data.endswith(b"\n") or not data


def settle(gateway, baseline, stats, label):
    """Waits until the gauges are 0 and fds, threads and children are back; returns the seconds."""
    started = time.monotonic()
    while time.monotonic() - started < SETTLE_MAX_SECONDS:
        try:
            _, gauges = gateway.gauges()
            time.sleep(0.3)   # let the gateway close the /metrics connection before counting fds
            s = gateway.sample()
        except (OSError, NoResponse, Bad, Malformed):
            time.sleep(1)
            continue
        if (gauges["sessions"] == 0 and gauges["processes"] == 0 and s["children"] == baseline["children"]
                and s["zombies"] == 0 and s["fds"] <= baseline["fds"] + FD_SLACK and s["threads"] <= baseline["threads"] + THREAD_SLACK):
            return time.monotonic() - started
        time.sleep(1)
    return time.monotonic() - started


def run(args):
    if not os.access(ORCH, os.X_OK):
        raise SystemExit("soak: no orch binary at %s (set ORCH_BIN)" % ORCH)
    if shutil.which("wrk") is None:
        raise SystemExit("soak: wrk is not installed (bench/soak/run.sh installs it)")
    for address in FLOOD_ADDRESSES + (IDLE_ADDRESS, SLOWREAD_ADDRESS, SLOWLORIS_ADDRESS, DRIBBLE_ADDRESS, SLOWBODY_ADDRESS,
                                      AGGREGATE_FLOOD_ADDRESS):
        probe = socket.socket()
        try:
            probe.bind((address, 0))
        except OSError as error:
            raise SystemExit("soak: cannot bind %s (%s): the hostile clients need their own loopback addresses" % (address, error))
        finally:
            probe.close()

    folder = tempfile.mkdtemp(prefix="orch-soak-")
    variants = [json.dumps(policy("A"), indent=1).encode(), json.dumps(policy("B"), indent=1).encode()]
    digests = {"sha256:" + sha256_hex(v) for v in variants}
    with open(os.path.join(folder, "orch.json"), "wb") as f:
        f.write(variants[0])
    check = subprocess.run([ORCH, "check", os.path.join(folder, "orch.json")], capture_output=True, text=True)
    with open(os.path.join(folder, "orch.b.json"), "wb") as f:
        f.write(variants[1])
    check_b = subprocess.run([ORCH, "check", os.path.join(folder, "orch.b.json")], capture_output=True, text=True)
    os.unlink(os.path.join(folder, "orch.b.json"))
    if check.returncode or check_b.returncode:
        raise SystemExit("soak: a policy variant does not compile:\n%s%s%s%s" % (check.stdout, check.stderr, check_b.stdout, check_b.stderr))

    stats = Stats()
    started_at = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    print("soak: %s, %d s of load, %d churn workers, wrk -c%d; folder %s; run id %s"
          % (ORCH, DURATION, WORKERS, WRK_CONNECTIONS, folder, RUN_ID), flush=True)
    gateway = Gateway(folder)
    print("soak: gateway pid %d on 127.0.0.1:%d" % (gateway.pid, gateway.port), flush=True)
    report = {"started": started_at, "duration": DURATION, "workers": WORKERS, "wrk_connections": WRK_CONNECTIONS}
    try:
        # Warm-up: the same traffic, briefly, so lazily built state is in the baseline.
        warm = Phase("warm-up", gateway.port, WARMUP_SECONDS, stats)
        warm_wrk = start_wrk(gateway.port, WARMUP_SECONDS - 2)
        threads = load_threads(warm, WORKERS, digests, {}, None, variants, hostile=False)
        warm.sleep(WARMUP_SECONDS)
        warm.stop.set()
        join_threads(warm, threads, 60)
        wrk_result(warm_wrk, 30)
        settled = settle(gateway, {"children": 0, "fds": 10 ** 6, "threads": 10 ** 6}, stats, "warm-up")
        time.sleep(3)
        baseline = gateway.sample()
        values, gauges = gateway.gauges()
        baseline.update(gauges)
        time.sleep(0.3)
        baseline["fds"] = gateway.sample()["fds"]
        print("soak: baseline after warm-up (settled in %.1f s): %s" % (settled, baseline), flush=True)
        base_values = values
        base_stats = collections.Counter(stats.counts)
        audit_before = os.path.getsize(gateway.audit)

        # Phase 2: the load.
        phase = Phase("load", gateway.port, DURATION, stats)
        peaks, gauge_peaks = dict(baseline), {}
        wrk = start_wrk(gateway.port, DURATION)
        load_started = time.monotonic()
        threads = load_threads(phase, WORKERS, digests, gauge_peaks, gateway.config, variants)
        threads += start_threads([("sampler", sampler, (phase, gateway, peaks))])
        next_progress = load_started + 30
        while phase.running() and time.monotonic() - load_started < DURATION:
            phase.sleep(min(1.0, DURATION - (time.monotonic() - load_started)))
            if time.monotonic() >= next_progress:
                next_progress += 30
                c = stats.counts
                print("soak: %3.0f s: %d sessions, %d MCP requests, %d reload writes, %d violations; rss %.1f MiB, %d children"
                      % (time.monotonic() - load_started, c["sessions opened"], c["requests: mcp"], phase.reload_writes,
                         sum(stats.violation_counts.values()), peaks.get("rss_kib", 0) / 1024, peaks.get("children", 0)), flush=True)
        load_seconds = time.monotonic() - load_started
        phase.stop.set()
        join_threads(phase, threads, 60)
        wrk_stats, wrk_output = wrk_result(wrk, 60)
        if wrk_stats is None:
            stats.violation("wrk gave no summary", wrk_output[-2000:])
            wrk_stats = {}
        elif any(wrk_stats[k] for k in ("non2xx", "connect", "read", "write", "timeout")):
            stats.violation("wrk saw failed requests", wrk_output[-2000:])
        print("soak: load stopped after %.1f s; settling" % load_seconds, flush=True)

        # Phase 3: back to the baseline.
        settle_seconds = settle(gateway, baseline, stats, "load")
        time.sleep(2)
        final = gateway.sample()
        final_values, gauges = gateway.gauges()
        final.update(gauges)
        time.sleep(0.3)
        final["fds"] = gateway.sample()["fds"]
        peaks["sessions"] = gauge_peaks.get("orch_sessions_active", 0)
        peaks["processes"] = gauge_peaks.get("orch_upstream_processes", 0)
        rss_allowed = max(RSS_TOLERANCE_MIB * 1024, baseline["rss_kib"] * RSS_TOLERANCE_FRACTION)
        if final["rss_kib"] - baseline["rss_kib"] > rss_allowed:
            stats.violation("VmRSS did not return to the baseline", "baseline %d KiB, peak %d KiB, final %d KiB (allowed +%d KiB)"
                            % (baseline["rss_kib"], peaks["rss_kib"], final["rss_kib"], rss_allowed))
        for key, slack in (("fds", FD_SLACK), ("threads", THREAD_SLACK)):
            if final[key] > baseline[key] + slack:
                stats.violation("%s did not return to the baseline" % key, "baseline %d, peak %d, final %d (slack %d)"
                                % (baseline[key], peaks[key], final[key], slack))
        if final["children"] != baseline["children"] or final["zombies"]:
            live, zombies = children(gateway.pid)
            stats.violation("child processes left after the settle", "live: %s; zombies: %s" % (describe(live), zombies))
        if final["sessions"] != 0 or final["processes"] != 0:
            stats.violation("gauges not back to 0", "orch_sessions_active %s, orch_upstream_processes %s"
                            % (final["sessions"], final["processes"]))

        def delta(name, **labels):
            return metric(final_values, name, **labels) - metric(base_values, name, **labels)

        reloads_ok, reloads_error = delta("orch_reloads_total", result="ok"), delta("orch_reloads_total", result="error")
        if reloads_error:
            stats.violation("reloads failed", "orch_reloads_total{result=\"error\"} grew by %d" % reloads_error)
        if reloads_ok < 0.9 * phase.reload_writes or (DURATION >= 150 and reloads_ok < 100):
            stats.violation("too few reloads", "%d writes, orch_reloads_total{result=\"ok\"} grew by %d" % (phase.reload_writes, reloads_ok))
        refused = {reason: delta("orch_connections_refused_total", reason=reason)
                   for reason in ("per_client", "request_head_timeout", "request_body_timeout", "idle_timeout")}
        c = stats.counts
        observed_timeouts = (c["hostile: idle sockets closed after the request-head timeout"] + c["hostile: slowloris sockets closed by the gateway"]
                             + c["hostile: second-request dribbles closed by the gateway"])
        if refused["per_client"] < max(1, c["hostile: idle sockets closed at once (per-client limit)"]):
            stats.violation("orch_connections_refused_total{reason=\"per_client\"} does not show the per-client limit",
                            "metric +%d, sockets closed at once %d" % (refused["per_client"], c["hostile: idle sockets closed at once (per-client limit)"]))
        if refused["request_head_timeout"] < max(1, observed_timeouts):
            stats.violation("orch_connections_refused_total{reason=\"request_head_timeout\"} does not show the guard",
                            "metric +%d, sockets seen closed after the timeout %d" % (refused["request_head_timeout"], observed_timeouts))
        if refused["request_body_timeout"] < max(1, c["hostile: slow bodies cut by the gateway"]):
            stats.violation("orch_connections_refused_total{reason=\"request_body_timeout\"} does not show the slow bodies cut",
                            "metric +%d, slow bodies seen cut %d" % (refused["request_body_timeout"], c["hostile: slow bodies cut by the gateway"]))
        if peaks["rss_kib"] - baseline["rss_kib"] > RSS_PEAK_ALLOWED_MIB * 1024:
            stats.violation("VmRSS peaked past the baseline + %d MiB during the load" % RSS_PEAK_ALLOWED_MIB,
                            "baseline %d KiB, peak %d KiB" % (baseline["rss_kib"], peaks["rss_kib"]))
        for key in ("sessions opened", "echo calls checked", "upstream crashes (documented failure reply)", "re-created after a crash",
                    "sessions left to idle out", "listener: list_changed received", "toggled tool: allowed (variant A)",
                    "toggled tool: refused (variant B)", "hostile: slow bodies cut by the gateway", "hostile: aggregated flood HTTP 200",
                    "hostile: aggregated flood HTTP 400"):
            if c[key] - base_stats[key] <= 0:
                stats.violation("the load did not exercise: %s" % key, "count %d" % (c[key] - base_stats[key]))

        # The audit log: every line JSON; the flood's records within the throttle's bound.
        records, bad, ends_ok = audit_lines(gateway.audit)
        if bad or not ends_ok:
            stats.violation("audit lines that are not JSON", "%d bad lines, ends with newline: %s; first: %r" % (len(bad), ends_ok, bad[:2]))
        windows = int(load_seconds // AUDIT_WINDOW_SECONDS) + 1
        allowed_records = windows * (AUDIT_LIMIT + 1)
        flood_audit = {}
        for address in FLOOD_ADDRESSES:
            mine = [(r, n) for r, n in records if str(r.get("remote", "")).rsplit(":", 1)[0] == address]
            written = sum(1 for r, _ in mine if r.get("decision") != "suppressed")
            size = sum(n for _, n in mine)
            longest = max((n for _, n in mine), default=0)
            flood_audit[address] = {"records": len(mine), "bytes": size, "longest": longest, "allowed_records": allowed_records,
                                    "allowed_bytes": allowed_records * MAX_AUDIT_LINE, "written": written}
            if len(mine) > allowed_records or size > allowed_records * MAX_AUDIT_LINE or longest > MAX_AUDIT_LINE:
                stats.violation("the unauthenticated flood grew the audit log past the throttle's bound", flood_audit[address])
        flood_refused = c["hostile: flood refused 401"] + c["hostile: flood refused 403"]
        suppressed = delta("orch_audit_suppressed_total")
        flood_written = sum(a["written"] for a in flood_audit.values())
        if suppressed <= 0 or abs(suppressed + flood_written - flood_refused) > c["hostile: flood connection errors"] + 2 * len(FLOOD_ADDRESSES):
            stats.violation("orch_audit_suppressed_total does not match the flood", "suppressed +%d, flood records written %d, flood refusals %d"
                            % (suppressed, flood_written, flood_refused))
        audit_growth = os.path.getsize(gateway.audit) - audit_before
        report["notes"] = []

        http_served = sum(v for (n, _), v in final_values.items() if n == "orch_http_requests_total") - \
            sum(v for (n, _), v in base_values.items() if n == "orch_http_requests_total")
        report.update({
            "load_seconds": load_seconds, "settle_seconds": settle_seconds, "baseline": baseline, "peak": peaks, "final": final,
            "rss_allowed_kib": rss_allowed, "reload_writes": phase.reload_writes, "reloads_ok": reloads_ok, "reloads_error": reloads_error,
            "wrk": wrk_stats, "http_served": http_served, "refused": refused, "flood_audit": flood_audit, "flood_refused": flood_refused,
            "audit_suppressed": suppressed, "audit_growth": audit_growth,
            "counts": {k: v - base_stats.get(k, 0) for k, v in stats.counts.items()}, "maxima": dict(stats.maxima),
        })
        print_table(report)

        # Phase 4: SIGTERM under fresh load.
        print("soak: SIGTERM under load", flush=True)
        report["sigterm"] = sigterm_phase(gateway, stats, digests, variants)
    except Exception:  # noqa: BLE001 - the harness's own failure is reported like a violation
        stats.violation("the soak itself failed", traceback.format_exc())
    finally:
        if gateway.process.poll() is None:
            gateway.process.kill()
            gateway.process.wait()
        gateway.log.close()
        time.sleep(0.5)
        leftovers = marked_processes()
        if leftovers:
            stats.violation("processes of this run left at the end", describe(leftovers))
            kill_marked()

    log_text = open(gateway.log_path, errors="replace").read()
    for pattern in (r"Fatal error", r"Assertion failed", r"Segmentation fault", r"\bcritical\b", r"\berror\b.*orch:"):
        hits = [line for line in log_text.splitlines() if re.search(pattern, line)]
        if hits:
            stats.violation("gateway log: %s" % pattern, "\n".join(hits[:5]))
    report["violations"] = dict(stats.violation_counts)
    report["log_warnings"] = collections.Counter(
        re.sub(r"[0-9a-f]{32}|\d+", "N", line.split("orch: ", 1)[-1])[:140]
        for line in log_text.splitlines() if " warning " in line).most_common(8)
    print_summary(report, stats)
    if args.record and "sigterm" in report:
        record(args.record, report, stats)
    if stats.violation_counts:
        print("soak: evidence kept in %s" % folder)
    elif not os.environ.get("SOAK_KEEP"):
        shutil.rmtree(folder, ignore_errors=True)
    return 1 if stats.violation_counts else 0


def sigterm_phase(gateway, stats, digests, variants):
    phase = Phase("SIGTERM", gateway.port, 40, stats)
    before = collections.Counter(stats.counts)
    wrk = start_wrk(gateway.port, 30)
    threads = load_threads(phase, 4, digests, {}, None, variants, hostile=False)
    threads += start_threads([("slow-reader", slow_reader, (phase, 60.0)), ("slowloris", slowloris, (phase, 2))])
    # An upstream that ignores SIGTERM and EOF (only SIGKILL, ~3 s after the stop begins, ends it),
    # and a call in flight at the SIGTERM: the drip reply takes ~9 s.
    stubborn = Session(phase, Client(gateway.port), [c for c in COMBOS if c.kind == "stubborn"][0])
    try:
        stubborn.initialize()
    except (NoResponse, Malformed, Bad) as error:
        record_failure(phase, error, "the session on the upstream that ignores SIGTERM")
    drip_result = {}

    def drip_call():
        session = Session(phase, Client(gateway.port), [c for c in COMBOS if c.kind == "drip"][0])
        try:
            session.initialize()
            drip_result["sent"] = time.monotonic()
            reply, message = session.rpc("tools/call", {"name": "work", "arguments": {}})
            drip_result["reply"] = message
        except (NoResponse, Malformed, Bad) as error:
            drip_result["error"] = error
            record_failure(phase, error, "the call in flight at SIGTERM")

    threads += start_threads([("drip", drip_call, ())])
    time.sleep(4)
    upstreams, _ = children(gateway.pid)
    marked = marked_processes()
    rss_before = proc_rss_kib(gateway.pid)
    phase.sigterm_at = time.monotonic()
    gateway.process.send_signal(signal.SIGTERM)
    snapshot = None
    try:
        status = gateway.process.wait(timeout=SIGTERM_EXIT_BOUND / 2)
    except subprocess.TimeoutExpired:
        # Still running half-way to the bound: note what it still serves, for the evidence.
        snapshot = "at +%.0f s: gateway connections (peer, state): %s; children: %s; client threads: %s" % (
            SIGTERM_EXIT_BOUND / 2, ", ".join(gateway_connections(gateway.pid, gateway.port)),
            describe(children(gateway.pid)[0]) or "none", "; ".join(in_request(threads)))
        try:
            status = gateway.process.wait(timeout=30 - SIGTERM_EXIT_BOUND / 2)
        except subprocess.TimeoutExpired:
            status = None
    exit_seconds = time.monotonic() - phase.sigterm_at
    if status is None:
        stats.violation("the gateway did not exit within 30 s of SIGTERM", snapshot)
        gateway.process.kill()
        gateway.process.wait()
    elif exit_seconds > SIGTERM_EXIT_BOUND:
        stats.violation("the gateway took %.1f s to exit after SIGTERM (bound %.0f s)" % (exit_seconds, SIGTERM_EXIT_BOUND), snapshot)
    if status not in (0, None):
        stats.violation("exit status %s after SIGTERM (expected 0)" % status, open(gateway.log_path, errors="replace").read()[-2000:])
    time.sleep(0.5)
    survivors = marked_processes()
    if survivors:
        stats.violation("upstream processes survived the gateway", describe(survivors))
        kill_marked()
    phase.stop.set()
    join_threads(phase, threads, 15)
    wrk.kill()
    wrk.communicate()
    records, bad, ends_ok = audit_lines(gateway.audit)
    if bad or not ends_ok:
        stats.violation("audit file not complete JSON lines after SIGTERM", "%d bad, ends with newline %s: %r" % (len(bad), ends_ok, bad[:2]))
    late = stats.counts["after SIGTERM: sessions opened on new connections"] - before["after SIGTERM: sessions opened on new connections"]
    if late:
        stats.violation("the gateway accepted connections and opened sessions after SIGTERM (docs/guide/operations.md: SIGTERM stops accepting)",
                        "%d sessions opened on connections made 0.1-%.1f s after the signal; the shutdown never ends such "
                        "sessions (bench/soak/repro.py session-after-sigterm)"
                        % (late, stats.maxima.get("after SIGTERM: last session opened on new connections (s after the signal)", 0)))
    if "reply" not in drip_result and "error" not in drip_result:
        stats.violation("the call in flight at SIGTERM got nothing", drip_result)
    counts = {k: v - before.get(k, 0) for k, v in stats.counts.items() if v - before.get(k, 0)}
    return {"exit_seconds": exit_seconds, "status": status, "upstreams_at_sigterm": len(upstreams), "marked_at_sigterm": len(marked),
            "survivors": len(survivors), "audit_lines": len(records), "audit_bad_lines": len(bad), "rss_kib_at_sigterm": rss_before,
            "late_session_max": stats.maxima.get("after SIGTERM: last session opened on new connections (s after the signal)", 0),
            "in_flight_call": (json.dumps(drip_result.get("reply"))[:200] if "reply" in drip_result else repr(drip_result.get("error"))),
            "counts": counts}


# --- output --------------------------------------------------------------------------------------

def print_table(report):
    b, p, f = report["baseline"], report["peak"], report["final"]
    rows = [("VmRSS (MiB)", "%.1f" % (b["rss_kib"] / 1024), "%.1f" % (p["rss_kib"] / 1024), "%.1f" % (f["rss_kib"] / 1024),
             "≤ +%.1f MiB" % (report["rss_allowed_kib"] / 1024)),
            ("open fds", b["fds"], p["fds"], f["fds"], "≤ +%d" % FD_SLACK),
            ("threads", b["threads"], p["threads"], f["threads"], "≤ +%d" % THREAD_SLACK),
            ("child processes", b["children"], p["children"], f["children"], "= baseline"),
            ("orch_sessions_active", int(b["sessions"]), int(p["sessions"]), int(f["sessions"]), "0"),
            ("orch_upstream_processes", int(b["processes"]), int(p["processes"]), int(f["processes"]), "0")]
    lines = ["| measure | baseline | peak | final | allowed |", "| --- | ---: | ---: | ---: | --- |"]
    lines += ["| %s | %s | %s | %s | %s |" % row for row in rows]
    report["table"] = "\n".join(lines)
    print(report["table"], flush=True)


def print_summary(report, stats):
    c = report.get("counts", {})
    print("\nsoak: figures")
    for key in sorted(c):
        print("  %-70s %d" % (key, c[key]))
    for key, value in sorted(report.get("maxima", {}).items()):
        print("  %-70s %.1f" % (key, value))
    if "wrk" in report:
        print("  wrk: %s" % report["wrk"])
        print("  gateway HTTP requests served (orch_http_requests_total): %d" % report["http_served"])
        print("  reloads: %d writes, %d ok, %d errors" % (report["reload_writes"], report["reloads_ok"], report["reloads_error"]))
        print("  connections refused: %s" % report["refused"])
        print("  flood: %d refusals; audit %s; suppressed %d; audit file grew %d bytes in all"
              % (report["flood_refused"], report["flood_audit"], report["audit_suppressed"], report["audit_growth"]))
        print("  settle: %.1f s" % report["settle_seconds"])
    if "sigterm" in report:
        s = report["sigterm"]
        print("  SIGTERM: exit after %.2f s, status %s; %d upstreams at SIGTERM, %d survivors; audit %d lines, %d bad"
              % (s["exit_seconds"], s["status"], s["upstreams_at_sigterm"], s["survivors"], s["audit_lines"], s["audit_bad_lines"]))
        print("  SIGTERM: in-flight call's reply: %s" % s["in_flight_call"])
        for key in sorted(s["counts"]):
            print("    %-68s %d" % (key, s["counts"][key]))
    for note in report.get("notes", []):
        print("  NOTE: %s" % note)
    if report.get("log_warnings"):
        print("  gateway log warnings (most frequent): %s" % report["log_warnings"])
    if stats.violation_counts:
        print("\nsoak: VIOLATIONS")
        for what, n in stats.violation_counts.most_common():
            print("  %5d × %s" % (n, what))
        print("\nsoak: evidence (first of each)")
        for at, what, evidence in stats.violations:
            print("  [%s] %s\n    %s" % (at, what, evidence.replace("\n", "\n    ")))
        print("\nsoak: FAIL: %d violations of %d kinds" % (sum(stats.violation_counts.values()), len(stats.violation_counts)))
    elif "sigterm" in report:
        c = report.get("counts", {})
        print("\nsoak: PASS: %.0f s, %d MCP sessions, %d MCP requests, %d wrk requests, %d reloads, 0 failed requests; "
              "RSS %.1f -> %.1f MiB (peak %.1f), fds %d -> %d, threads %d -> %d, children %d -> %d; SIGTERM exit %.2f s"
              % (report["load_seconds"], c.get("sessions opened", 0), c.get("requests: mcp", 0), report["wrk"].get("requests", 0),
                 report["reloads_ok"], report["baseline"]["rss_kib"] / 1024, report["final"]["rss_kib"] / 1024,
                 report["peak"]["rss_kib"] / 1024, report["baseline"]["fds"], report["final"]["fds"], report["baseline"]["threads"],
                 report["final"]["threads"], report["baseline"]["children"], report["final"]["children"], report["sigterm"]["exit_seconds"]))


def record(path, report, stats):
    """Writes the run's figures and verdict into `path` between <!-- soak:start --> and
    <!-- soak:end -->."""
    machine = "%d cores, %s, %s, %s, %s" % (
        os.cpu_count(), "%.0f GiB" % (int(re.search(r"MemTotal:\s+(\d+)", open("/proc/meminfo").read()).group(1)) / 1048576),
        (re.search(r"model name\s*:\s*(.*)", open("/proc/cpuinfo").read()) or re.search("(.*)", "?")).group(1).strip(),
        " ".join(os.uname()[i] for i in (0, 2)),
        (subprocess.run(["swift", "--version"], capture_output=True, text=True).stdout or "swift ?").splitlines()[0]
        if shutil.which("swift") else "swift not on PATH")
    c, s = report["counts"], report["sigterm"]
    growth = report["final"]["rss_kib"] - report["baseline"]["rss_kib"]
    late = s["counts"].get("after SIGTERM: sessions opened on new connections", 0)
    late_sessions = ("%d sessions opened on connections made 0.1 s or more after the signal (the last %.1f s after it)"
                     % (late, s.get("late_session_max", 0))) if late else "no session opened on a connection made after the signal"
    flood = "; ".join("%s: %d records, %d bytes, longest line %d B (bound %d records, %d bytes)"
                      % (a, f["records"], f["bytes"], f["longest"], f["allowed_records"], f["allowed_bytes"])
                      for a, f in report["flood_audit"].items())
    failed = sum(stats.violation_counts.values())
    if failed:
        verdict = "**FAIL: %d violations of %d kinds**\n\n| count | violation |\n| ---: | --- |\n%s\n" % (
            failed, len(stats.violation_counts),
            "\n".join("| %d | %s |" % (n, what.replace("|", "\\|")) for what, n in stats.violation_counts.most_common()))
    else:
        verdict = "**PASS**: no violation.\n"
    notes = "".join("\nNote: %s.\n" % note for note in report.get("notes", []))
    section = """<!-- soak:start -->
## Last recorded run

Command: `make soak` (`bench/soak/run.sh`, `bench/soak/soak.py`), %s, release build (`%s`).
Machine: %s.
Load: %.0f s; %d churn workers, 2 GET-stream listeners, 1 admin poller, the reloader, wrk `-t1 -c%d`,
and the hostile clients described above.

| figure | value |
| --- | --- |
| MCP sessions opened / deleted / left to idle out | %d / %d / %d |
| MCP requests (workers, listeners, slow readers) | %d |
| echo replies checked / tools/list checked / refusals checked | %d / %d / %d |
| upstream crashes (documented failure reply) / sessions re-created from their ids after one | %d / %d |
| `notifications/tools/list_changed` on GET streams / reload writes while listening | %d / %d |
| wrk requests on /api/v1/me and /api/v1/servers (p50 / p99 / max µs) | %d (%d / %d / %d) |
| HTTP requests served in all (`orch_http_requests_total`) | %d |
| policy rewrites / `orch_reloads_total{result="ok"}` / errors | %d / %d / %d |
| unauthenticated flood: refusals / `orch_audit_suppressed_total` | %d / %d |
| flood's audit records | %s |
| `orch_connections_refused_total` per_client / request_head_timeout / request_body_timeout / idle_timeout | %d / %d / %d / %d |
| longest idle socket / slowloris socket held (`requestHeadSeconds` 3) | %.1f s / %.1f s |
| longest kept-alive connection dribbling its second request head | %.1f s |
| slow bodies cut / longest held (grace `requestHeadSeconds` 3, then 1 KiB/s) | %d / %.1f s |
| aggregated-session flood of one key: opened / 429 / 400; most opened within `sessionIdleSeconds` (bound `maxSessionsPerKey` 256) | %d / %d / %d; %d |

Verdict: %s%s
Return to the baseline (reached %.1f s after the last client had finished):

%s

VmRSS growth from the baseline to the end: %+.1f MiB, that is %.1f B per HTTP request served or
%.2f KiB per MCP session opened.

SIGTERM under fresh load (4 churn workers, 2 listeners, wrk, a slow reader, slowloris, a session on
the upstream that ignores SIGTERM, a call in flight): exit after **%.2f s** with status %s
(bound %.0f s); %d upstream processes at the signal, %d left after; the audit file %d lines, %d not
JSON; the call in flight got `%s`; %d requests answered with a complete refusal or ended-session
reply, %d refused or closed before a response; %s.
<!-- soak:end -->""" % (
        report["started"], ORCH.replace(ROOT + "/", ""), machine, report["load_seconds"], report["workers"], report["wrk_connections"],
        c.get("sessions opened", 0), c.get("sessions deleted", 0), c.get("sessions left to idle out", 0),
        c.get("requests: mcp", 0), c.get("echo calls checked", 0), c.get("tools/list checked", 0),
        sum(v for k, v in c.items() if k.startswith("refused as expected")),
        c.get("upstream crashes (documented failure reply)", 0), c.get("re-created after a crash", 0),
        c.get("listener: list_changed received", 0), c.get("listener: reloads written while listening", 0),
        report["wrk"].get("requests", 0), report["wrk"].get("p50_us", 0), report["wrk"].get("p99_us", 0), report["wrk"].get("max_us", 0),
        report["http_served"], report["reload_writes"], report["reloads_ok"], report["reloads_error"],
        report["flood_refused"], report["audit_suppressed"], flood,
        report["refused"]["per_client"], report["refused"]["request_head_timeout"], report["refused"]["request_body_timeout"],
        report["refused"]["idle_timeout"],
        report["maxima"].get("idle socket held (s)", 0), report["maxima"].get("slowloris socket held (s)", 0),
        report["maxima"].get("second-request dribble held (s)", 0),
        c.get("hostile: slow bodies cut by the gateway", 0), report["maxima"].get("slow body held (s)", 0),
        c.get("hostile: aggregated flood HTTP 200", 0), c.get("hostile: aggregated flood HTTP 429", 0), c.get("hostile: aggregated flood HTTP 400", 0),
        report["maxima"].get("aggregated sessions opened within sessionIdleSeconds", 0), verdict, notes,
        report["settle_seconds"], report["table"], growth / 1024.0, growth * 1024.0 / max(1, report["http_served"]),
        growth / max(1, c.get("sessions opened", 0)), s["exit_seconds"], s["status"], SIGTERM_EXIT_BOUND,
        s["upstreams_at_sigterm"], s["survivors"], s["audit_lines"], s["audit_bad_lines"], s["in_flight_call"],
        s["counts"].get("after SIGTERM: complete refusal or ended-session reply", 0),
        s["counts"].get("after SIGTERM: connection refused or closed before a response", 0),
        late_sessions)
    text = open(path).read() if os.path.exists(path) else "# Reliability\n"
    pattern = re.compile(r"<!-- soak:start -->.*?<!-- soak:end -->", re.S)
    text = pattern.sub(lambda m: section, text) if pattern.search(text) else text.rstrip("\n") + "\n\n" + section + "\n"
    with open(path, "w") as f:
        f.write(text)
    print("soak: figures written to %s" % path)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--record", help="write the figures into this file (between <!-- soak:start/end --> markers) when the run passes")
    sys.exit(run(parser.parse_args()))
