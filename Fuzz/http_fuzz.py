#!/usr/bin/env python3
"""Fuzzes `orch serve` over loopback with mutated raw HTTP/1.1 requests.

Starts the built `orch serve` (--orch, default $ORCH_BIN or .build/debug/orch) on 127.0.0.1 with a
small orch.json (the built-in sample-server over stdio, a remote server on a closed port, valid,
scoped, expired and disabled keys), opens MCP sessions (Streamable HTTP and legacy SSE), then
sends requests built from the seeds in --corpus (raw requests with placeholders) and from a
generator: methods, paths, headers, bearer tokens, session ids, Content-Length and chunked
framing, pipelining, and MCP JSON-RPC bodies, then mutated at the byte level.

Properties: the server never exits, never answers a 5xx other than 502, 503 and 504 (upstream
problems), never sends something that is not an HTTP/1.x response, answers /healthz within 5 s
after every batch of requests, and exits within 15 s on SIGTERM. On a failure the requests of the
batch go to --crashes (one file of raw requests, and a .txt saying what failed, with the end of
the server's log), and the exit status is 1. Bounded by --seconds and --max-requests; loopback
only. Python standard library only.
"""
import argparse
import collections
import hashlib
import json
import os
import random
import re
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOKENS = {
    "TOKEN": "orch_http-fuzz-ana",       # ana: every tool, prompt and resource of notes
    "SCOPED": "orch_http-fuzz-scoped",   # ana's key scoped to notes:echo
    "EXPIRED": "orch_http-fuzz-expired",
    "DISABLED": "orch_http-fuzz-ben",    # ben is disabled
    "ADMIN": "orch_http-fuzz-root",      # root: gateway admin, also a member
}
ALLOWED_5XX = {502, 503, 504}


def sha256(text):
    return hashlib.sha256(text.encode()).hexdigest()


def config(remote_port):
    return {
        "version": 1,
        "gateway": {
            "audit": "audit.log",
            "allowedOrigins": ["https://allowed.example"],
            "limits": {"maxBodyBytes": 65536, "sessionIdleSeconds": 30, "maxSessionsPerKey": 16,
                       "callTimeoutSeconds": 3, "maxUpstreamProcesses": 12},
        },
        "roles": {
            "user": {"allow": ["notes", "remote"], "deny": ["notes:delete_*", "notes:prompts/draft_*"]},
            "admin": {"allow": ["*"]},
        },
        "orgs": {"acme": {
            "members": {"ana": "user", "ben": "user", "root": "admin"},
            "servers": {
                "notes": {"command": "${env:ORCH_BIN}", "args": ["sample-server", "--page-size", "2"],
                          "tools": {"deny": ["now"]}},
                "remote": {"url": "http://127.0.0.1:%d/mcp" % remote_port},
                "legacy": {"url": "http://127.0.0.1:%d/sse" % remote_port, "transport": "sse"},
            },
        }},
        "users": {
            "ana": {"keys": [
                {"id": "laptop", "sha256": sha256(TOKENS["TOKEN"])},
                {"id": "ci", "sha256": sha256(TOKENS["SCOPED"]), "scope": ["acme/notes:echo"]},
                {"id": "old", "sha256": sha256(TOKENS["EXPIRED"]), "expires": "2020-01-01"},
            ]},
            "ben": {"disabled": True, "keys": [{"id": "b", "sha256": sha256(TOKENS["DISABLED"])}]},
            "root": {"admin": True, "keys": [{"id": "r", "sha256": sha256(TOKENS["ADMIN"])}]},
        },
    }


def free_closed_port():
    """A loopback port nothing listens on (the remote servers' upstream: connection refused)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Server:
    def __init__(self, orch, folder):
        self.log = collections.deque(maxlen=400)
        path = os.path.join(folder, "orch.json")
        with open(path, "w") as f:
            json.dump(config(free_closed_port()), f, indent=2)
        env = dict(os.environ, ORCH_BIN=orch, ORCH_LOG_LEVEL=os.environ.get("ORCH_LOG_LEVEL", "warning"))
        self.process = subprocess.Popen([orch, "serve", path, "--listen", "127.0.0.1:0"], cwd=folder,
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
        self.port = None
        found = threading.Event()

        def drain():
            for raw in self.process.stdout:
                line = raw.decode("utf-8", "replace").rstrip("\n")
                self.log.append(line)
                m = re.search(r"orch is serving .* on http://[0-9.]+:(\d+)", line)
                if m and self.port is None:
                    self.port = int(m.group(1))
                    found.set()
        threading.Thread(target=drain, daemon=True).start()
        # The log level may hide the "serving" line: fall back to the listening socket of the pid.
        deadline = time.time() + 20
        while not found.wait(0.1) and time.time() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("orch serve exited with %s:\n%s" % (self.process.returncode, "\n".join(self.log)))
            self.port = self.port or listening_port(self.process.pid)
            if self.port:
                break
        if not self.port:
            raise RuntimeError("orch serve did not start listening:\n" + "\n".join(self.log))

    def alive(self):
        return self.process.poll() is None

    def stop(self):
        """SIGTERM; the exit status, or None when it took longer than 15 s (then SIGKILL)."""
        if self.process.poll() is not None:
            return self.process.returncode
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            return None


def listening_port(pid):
    """The TCP port a process listens on, from /proc (IPv4 loopback)."""
    try:
        inodes = set()
        for fd in os.listdir("/proc/%d/fd" % pid):
            target = os.readlink("/proc/%d/fd/%s" % (pid, fd))
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
        with open("/proc/%d/net/tcp" % pid) as f:
            for line in f.readlines()[1:]:
                fields = line.split()
                if fields[3] == "0A" and fields[9] in inodes:
                    return int(fields[1].split(":")[1], 16)
    except OSError:
        pass
    return None


# ---------------------------------------------------------------------------------------------
# Talking HTTP over raw sockets

def exchange(port, data, count, timeout=2.0, idle=0.4):
    """Sends raw bytes, reads until `count` responses are complete, the peer closes, or the
    connection stays silent for `idle` s (a stream, or a request the server still waits on).
    Returns (list of (status, headers), problem or None)."""
    head = b"HEAD " in data
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    received = b""
    try:
        try:
            s.sendall(data)
        except OSError:
            pass  # the server may close early (a 400, 413 or 431 before the whole body)
        deadline = time.time() + timeout
        last = time.time()
        while time.time() < deadline:
            responses, problem, complete = parse_responses(received, count, head)
            if problem or complete:
                return responses, problem
            ready, _, _ = select.select([s], [], [], 0.05)
            if ready:
                try:
                    chunk = s.recv(65536)
                except OSError:
                    break
                if not chunk:
                    break
                received += chunk
                last = time.time()
            elif time.time() - last > idle:
                break
    finally:
        s.close()
    responses, problem, _ = parse_responses(received, count, head)
    return responses, problem


def parse_responses(data, count, head=False):
    """(responses, problem, complete): the complete or started responses in `data`, complete once
    `count` have ended. Mutated, pipelined requests cannot be told apart reliably, so which one
    was a HEAD is not known: when `head` (a HEAD among them), a response whose body would start
    with a status line had none."""
    responses = []
    pos = 0
    index = 0
    while pos < len(data):
        end = data.find(b"\r\n\r\n", pos)
        if end < 0:
            if not re.match(rb"HTTP/1\.[01] ", data[pos:pos + 9]) and len(data) - pos >= 9:
                return responses, "not an HTTP/1.x response: %r" % data[pos:pos + 80], False
            return responses, None, False
        head = data[pos:end].decode("latin-1")
        lines = head.split("\r\n")
        m = re.match(r"HTTP/1\.[01] (\d{3})( .*)?$", lines[0])
        if not m:
            return responses, "not an HTTP/1.x status line: %r" % lines[0][:80], False
        status = int(m.group(1))
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers.setdefault(name.strip().lower(), value.strip())
        pos = end + 4
        if 100 <= status < 200 and status != 101:
            continue
        responses.append((status, headers))
        index += 1
        if status in (204, 304) or (head and re.match(rb"HTTP/1\.[01] \d{3} ", data[pos:pos + 13])):
            continue
        if "content-length" in headers:
            try:
                length = int(headers["content-length"])
            except ValueError:
                return responses, "bad Content-Length %r" % headers["content-length"], False
            if len(data) - pos < length:
                return responses, None, False
            pos += length
        elif "chunked" in headers.get("transfer-encoding", "").lower():
            while True:
                line_end = data.find(b"\r\n", pos)
                if line_end < 0:
                    return responses, None, False
                size_text = data[pos:line_end].split(b";")[0].strip()
                try:
                    size = int(size_text, 16)
                except ValueError:
                    return responses, "bad chunk size %r" % size_text, False
                pos = line_end + 2
                if size == 0:
                    trailer_end = data.find(b"\r\n", pos)
                    while trailer_end > pos:  # trailers
                        pos = trailer_end + 2
                        trailer_end = data.find(b"\r\n", pos)
                    if trailer_end < 0:
                        return responses, None, False
                    pos = trailer_end + 2
                    break
                if len(data) - pos < size + 2:
                    return responses, None, False
                pos += size + 2
        else:
            return responses, None, False  # read until close
    return responses, None, index >= count


def request(port, method, path, headers=(), body=b"", timeout=5.0):
    head = "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n" % (method, path)
    for name, value in headers:
        head += "%s: %s\r\n" % (name, value)
    if body or method in ("POST", "PUT"):
        head += "Content-Length: %d\r\n" % len(body)
    head += "Connection: close\r\n\r\n"
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(head.encode("latin-1") + body)
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    finally:
        s.close()
    head, _, rest = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ")[1]) if head.startswith(b"HTTP/1.") else None
    return status, head.decode("latin-1"), rest


def rpc(id, method, params=None):
    message = {"jsonrpc": "2.0", "method": method}
    if id is not None:
        message["id"] = id
    if params is not None:
        message["params"] = params
    return json.dumps(message).encode()


INITIALIZE = rpc(1, "initialize", {"protocolVersion": "2025-06-18", "capabilities": {},
                                   "clientInfo": {"name": "http-fuzz", "version": "1"}})


def open_session(port, token=TOKENS["TOKEN"]):
    """A Streamable HTTP session id, or '' when the gateway refuses one (say, at its limits)."""
    try:
        status, head, _ = request(port, "POST", "/orgs/acme/servers/notes/mcp", [
            ("Authorization", "Bearer " + token), ("Content-Type", "application/json"),
            ("Accept", "application/json, text/event-stream")], INITIALIZE, timeout=10)
    except OSError:
        return ""
    m = re.search(r"(?im)^mcp-session-id:\s*(\S+)", head)
    if status != 200 or not m:
        return ""
    sid = m.group(1)
    try:
        request(port, "POST", "/orgs/acme/servers/notes/mcp", [
            ("Authorization", "Bearer " + token), ("Mcp-Session-Id", sid), ("Content-Type", "application/json"),
            ("Accept", "application/json, text/event-stream")], rpc(None, "notifications/initialized"))
    except OSError:
        pass
    return sid


def close_session(port, sid, token=TOKENS["TOKEN"]):
    if sid:
        try:
            request(port, "DELETE", "/orgs/acme/servers/notes/mcp", [("Authorization", "Bearer " + token), ("Mcp-Session-Id", sid)])
        except OSError:
            pass


class LegacyStream:
    """GET …/sse held open for a batch; its endpoint event names the POST URL."""

    def __init__(self, port):
        self.sock = None
        self.endpoint = "/orgs/acme/servers/notes/messages?sessionId=none"
        try:
            self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            self.sock.sendall(("GET /orgs/acme/servers/notes/sse HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                               "Authorization: Bearer %s\r\nAccept: text/event-stream\r\n\r\n" % TOKENS["TOKEN"]).encode())
            data = b""
            deadline = time.time() + 5
            while time.time() < deadline and b"event: endpoint" not in data:
                chunk = self.sock.recv(65536)
                if not chunk:
                    break
                data += chunk
            m = re.search(rb"event: endpoint\r?\ndata: (\S+)", data)
            if m:
                self.endpoint = m.group(1).decode()
                if self.endpoint.startswith("http"):
                    self.endpoint = "/" + self.endpoint.split("/", 3)[3]
        except OSError:
            pass

    def close(self):
        if self.sock:
            self.sock.close()


# ---------------------------------------------------------------------------------------------
# Requests

PATHS = [
    "/healthz", "/readyz", "/metrics", "/api/v1/me", "/api/v1/servers", "/api/v1/orgs/acme/servers", "/api/v1/policy",
    "/api/v1/tools", "/api/v1/tools?server=acme/notes", "/api/v1/prompts", "/api/v1/resources?server=acme/notes",
    "/api/v1/client-config?client=cursor", "/api/v1/client-config?client=vscode&transport=sse&server=acme/notes",
    "/orgs/acme/servers/notes/mcp", "/orgs/acme/servers/notes/mcp", "/orgs/acme/servers/notes/mcp", "/servers/notes/mcp",
    "/orgs/acme/servers/notes/sse", "{LEGACY}", "{LEGACY}", "/orgs/acme/servers/notes/messages?sessionId={SID}",
    "/orgs/acme/servers/remote/mcp", "/orgs/acme/servers/legacy/sse", "/orgs/acme/servers/legacy/mcp",
    "/orgs/globex/servers/notes/mcp", "/orgs/acme/servers/nope/mcp", "/orgs/%61cme/servers/notes/mcp",
    "/orgs/acme/servers/notes/mcp/", "//orgs/acme//servers/notes/mcp", "/orgs/../orgs/acme/servers/notes/mcp",
    "/api/v1/../v1/me", "/api/v1/tools?server=", "/api/v1/tools?server=acme%2Fnotes&server=x", "*", "/", "",
    "http://127.0.0.1/api/v1/me", "/api/v1/me?" + "a=1&" * 300, "/" + "x" * 9000, "/api/v1/openapi.json", "/openapi.json",
]
METHODS = ["POST"] * 8 + ["GET"] * 5 + ["DELETE", "PUT", "HEAD", "OPTIONS", "PATCH", "TRACE", "CONNECT", "get", "P0ST", "", "GET GET"]
MCP_METHODS = [
    ("initialize", {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "f", "version": "1"}}),
    ("initialize", {"protocolVersion": "2024-11-05", "capabilities": {"sampling": {}, "roots": {}}, "clientInfo": {}}),
    ("tools/list", {}), ("tools/list", {"cursor": "2"}), ("tools/list", {"cursor": "nope"}),
    ("tools/call", {"name": "echo", "arguments": {"text": "hi"}}), ("tools/call", {"name": "add", "arguments": {"a": 1, "b": 2}}),
    ("tools/call", {"name": "write_note", "arguments": {"name": "n", "text": "t"}}), ("tools/call", {"name": "delete_note", "arguments": {"name": "n"}}),
    ("tools/call", {"name": "now"}), ("tools/call", {"name": 5}), ("tools/call", {}), ("tools/call", {"name": "echo", "_meta": {"progressToken": 7}}),
    ("tools/call", {"name": "echo", "arguments": {"text": "x"}, "task": {"ttl": 1000}}),
    ("prompts/list", {}), ("prompts/get", {"name": "summarize", "arguments": {"text": "t"}}), ("prompts/get", {"name": "draft_note"}),
    ("resources/list", {}), ("resources/templates/list", {}), ("resources/read", {"uri": "notes://index"}),
    ("resources/read", {"uri": "notes://note/n"}), ("resources/read", {"uri": None}), ("resources/subscribe", {"uri": "notes://index"}),
    ("resources/unsubscribe", {"uri": "notes://index"}),
    ("completion/complete", {"ref": {"type": "ref/prompt", "name": "summarize"}, "argument": {"name": "text", "value": "a"}}),
    ("completion/complete", {"ref": {"type": "ref/resource", "uri": "notes://note/{name}"}, "argument": {"name": "name", "value": ""}}),
    ("completion/complete", {"ref": {"type": "ref/nope"}}), ("ping", None), ("logging/setLevel", {"level": "debug"}),
    ("tasks/list", {}), ("tasks/get", {"taskId": "x"}), ("tasks/cancel", {"taskId": "x"}), ("server/discover", {}),
    ("sampling/createMessage", {}), ("nope/nope", {}), ("notifications/initialized", None), ("notifications/cancelled", {"requestId": 1}),
    ("notifications/progress", {"progressToken": 7, "progress": 1}), ("notifications/roots/list_changed", None),
]
IDS = [1, 2, "a", 0, -1, 1.5, None, "", 2 ** 63, -2 ** 63 - 1, 1e300, True, [], {}, "\u0000", "x" * 300]
BODIES = [
    b"", b"{", b"[]", b"null", b"1", b'"x"', b"{}", b'{"jsonrpc":"2.0"}', b'{"jsonrpc":"1.0","id":1,"method":"ping"}',
    b'{"jsonrpc":"2.0","id":1,"result":{}}', b'{"jsonrpc":"2.0","id":1,"error":{"code":1,"message":"m"}}',
    b'{"jsonrpc":"2.0","id":1,"method":"ping","id":2}', b'[{"jsonrpc":"2.0","id":1,"method":"ping"}]',
    b'{"jsonrpc":"2.0","id":1,"method":"ping"}\n{"jsonrpc":"2.0","id":2,"method":"ping"}', b"[" * 200 + b"]" * 200,
    b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"' + b"A" * 70000 + b'"}}}',
    b"\xff\xfe", b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo\\u0000"}}',
]
HEADER_NAMES = ["Authorization", "Mcp-Session-Id", "Content-Type", "Accept", "MCP-Protocol-Version", "Origin", "Last-Event-ID",
                "Connection", "Transfer-Encoding", "Content-Length", "Expect", "Host", "Cookie", "X-Forwarded-For", "Upgrade"]


class Generator:
    def __init__(self, rng, seeds):
        self.rng = rng
        self.seeds = seeds

    def pick(self, items):
        return self.rng.choice(items)

    def token_header(self):
        r = self.rng.random()
        if r < 0.55:
            return "Bearer {TOKEN}"
        return self.pick(["Bearer {SCOPED}", "Bearer {EXPIRED}", "Bearer {DISABLED}", "Bearer {ADMIN}", "bearer {TOKEN}",
                          "BEARER   {TOKEN}  ", "Bearer\t{TOKEN}", "Bearer", "Bearer ", "Basic YTpi", "Bearer {TOKEN}x",
                          "Bearer orch_" + "A" * 43, "Bearer " + "x" * 20000, "{TOKEN}", "Bearer {TOKEN}, Bearer {SCOPED}",
                          "Bearer \u00e9"])

    def body(self):
        r = self.rng.random()
        if r < 0.15:
            return self.pick(BODIES)
        method, params = self.pick(MCP_METHODS)
        message = {"jsonrpc": "2.0", "method": method}
        if not method.startswith("notifications/") or self.rng.random() < 0.1:
            message["id"] = self.pick(IDS) if self.rng.random() < 0.3 else self.rng.randint(1, 10 ** 6)
        if params is not None:
            message["params"] = params
        if self.rng.random() < 0.1:
            del message["jsonrpc"]
        text = json.dumps(message, indent=self.pick([None, None, 2]))
        return text.encode()

    def generated(self):
        method = self.pick(METHODS)
        path = self.pick(PATHS)
        headers = [("Host", "127.0.0.1")] if self.rng.random() < 0.95 else []
        if self.rng.random() < 0.85:
            headers.append(("Authorization", self.token_header()))
        if "/mcp" in path and self.rng.random() < 0.75:
            headers.append(("Mcp-Session-Id", self.pick(["{SID}"] * 6 + ["", "nope", "0" * 32, "{SID}{SID}", "{SID} x"])))
        if self.rng.random() < 0.8:
            headers.append(("Accept", self.pick(["application/json, text/event-stream", "application/json", "text/event-stream",
                                                 "*/*", "text/html", ""])))
        if self.rng.random() < 0.7:
            headers.append(("Content-Type", self.pick(["application/json", "application/json; charset=utf-8", "text/plain", ""])))
        if self.rng.random() < 0.2:
            headers.append(("MCP-Protocol-Version", self.pick(["2025-06-18", "2025-11-25", "2024-11-05", "1999-01-01", ""])))
        if self.rng.random() < 0.1:
            headers.append(("Origin", self.pick(["https://allowed.example", "https://evil.example", "null", ""])))
        if self.rng.random() < 0.05:
            headers.append(("Last-Event-ID", "1"))
        if self.rng.random() < 0.05:
            headers += [("X-Many-%d" % i, "v") for i in range(self.pick([50, 101, 150]))]
        if self.rng.random() < 0.03:
            headers.append(("X-Big", "b" * self.pick([16000, 17000, 70000])))
        body = self.body() if method not in ("GET", "HEAD") or self.rng.random() < 0.1 else b""
        return self.frame(method, path, headers, body)

    def frame(self, method, path, headers, body):
        version = "HTTP/1.1" if self.rng.random() < 0.95 else self.pick(["HTTP/1.0", "HTTP/2.0", "HTTP/1.2", "HTTX/1.1", ""])
        r = self.rng.random()
        extra = []
        if r < 0.7:
            payload = body
            if body or method in ("POST", "PUT"):
                extra.append(("Content-Length", str(len(body))))
        elif r < 0.85:
            extra.append(("Transfer-Encoding", "chunked"))
            payload = self.chunked(body)
        elif r < 0.92:
            extra.append(("Content-Length", str(max(0, len(body) + self.pick([-5, -1, 1, 100, 10 ** 12, -(len(body) + 1)])))))
            payload = body
        else:
            extra += self.pick([[("Content-Length", str(len(body))), ("Transfer-Encoding", "chunked")],
                                [("Content-Length", str(len(body))), ("Content-Length", str(len(body) + 1))],
                                [("Transfer-Encoding", "gzip, chunked")], [("Content-Length", "0x10")], [("Content-Length", "-1")]])
            payload = body
        if self.rng.random() < 0.05:
            extra.append(("Expect", "100-continue"))
        lines = ["%s %s %s" % (method, path, version)] + ["%s: %s" % h for h in headers + extra]
        if self.rng.random() < 0.03:
            lines.insert(self.rng.randint(1, len(lines)), self.pick([" folded", "NoColon", ": empty-name", "Bad Name: x", "X: a\rb"]))
        text = ("\r\n".join(lines) + "\r\n\r\n") if self.rng.random() < 0.97 else ("\n".join(lines) + "\n\n")
        return text.encode("utf-8", "surrogateescape") + payload

    def chunked(self, body):
        out = b""
        pos = 0
        while pos < len(body):
            size = self.rng.randint(1, max(1, min(len(body) - pos, 4096)))
            ext = self.pick([b"", b"", b";x=y"])
            out += b"%x%s\r\n" % (size, ext) + body[pos:pos + size] + b"\r\n"
            pos += size
        r = self.rng.random()
        if r < 0.85:
            return out + b"0\r\n\r\n"
        return out + self.pick([b"", b"0\r\n", b"0\r\nX-Trailer: 1\r\n\r\n", b"zz\r\n\r\n", b"ffffffffffffffffff\r\n",
                                b"5\r\nab\r\n0\r\n\r\n", b"-1\r\n\r\n"])

    def seed(self):
        return self.pick(self.seeds) if self.seeds else self.generated()

    def mutate(self, data):
        data = bytearray(data)
        for _ in range(self.rng.randint(1, 4)):
            if not data:
                data += b"GET / HTTP/1.1\r\n\r\n"
            op = self.rng.random()
            i = self.rng.randrange(len(data))
            if op < 0.25:
                data[i] ^= 1 << self.rng.randrange(8)
            elif op < 0.45:
                data[i:i] = self.pick([b"\r\n", b"\n", b" ", b":", b"\x00", b"\xff", b"{", b"}", b'"', b"%", b"0", b"9" * 20,
                                       b"Transfer-Encoding: chunked\r\n", b"Content-Length: 5\r\n", b"\r\n\r\n"])
            elif op < 0.65:
                del data[i:i + self.rng.randint(1, 16)]
            elif op < 0.8:
                j = self.rng.randrange(len(data))
                data[i:i] = data[j:j + self.rng.randint(1, 64)]
            else:
                data[i] = self.rng.randrange(256)
        return bytes(data)

    def next(self):
        """(raw bytes with placeholders, count of requests in it)."""
        parts = []
        for _ in range(1 if self.rng.random() < 0.85 else self.rng.randint(2, 4)):  # sometimes pipelined
            data = self.seed() if self.rng.random() < 0.4 else self.generated()
            if self.rng.random() < 0.25:
                data = self.mutate(data)
            parts.append(data)
        return b"".join(parts), len(parts)


def fill(data, sid, legacy):
    values = dict(TOKENS, SID=sid or "none", LEGACY=legacy)
    for name, value in values.items():
        data = data.replace(b"{" + name.encode() + b"}", value.encode())
    return data


def load_seeds(folder):
    """Raw requests as sent, with {TOKEN}, {SCOPED}, {EXPIRED}, {DISABLED}, {ADMIN}, {SID} and
    {LEGACY} (the legacy messages URL) filled in before sending."""
    seeds = []
    if folder and os.path.isdir(folder):
        for name in sorted(os.listdir(folder)):
            with open(os.path.join(folder, name), "rb") as f:
                seeds.append(f.read())
    return seeds


# ---------------------------------------------------------------------------------------------

def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--max-requests", type=int, default=200000)
    parser.add_argument("--batch", type=int, default=40)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--orch", default=os.environ.get("ORCH_BIN", os.path.join(ROOT, ".build", "debug", "orch")))
    parser.add_argument("--corpus", default=os.path.join(ROOT, "Fuzz", "Corpus", "http"))
    parser.add_argument("--crashes", default=os.path.join(ROOT, ".build-fuzz", "crashes", "http"))
    args = parser.parse_args()
    if not os.access(args.orch, os.X_OK):
        print("http_fuzz: no orch binary at %s (build it, or pass --orch)" % args.orch, file=sys.stderr)
        return 2
    seed = args.seed if args.seed is not None else random.randrange(2 ** 32)
    rng = random.Random(seed)
    gen = Generator(rng, load_seeds(args.corpus))
    folder = tempfile.mkdtemp(prefix="orch-http-fuzz-")
    server = Server(os.path.abspath(args.orch), folder)
    port = server.port
    print("http_fuzz: seed %d, orch %s on 127.0.0.1:%d, %d seeds" % (seed, args.orch, port, len(gen.seeds)), flush=True)
    started = time.time()
    statuses = collections.Counter()
    sent = 0
    failure = None
    batch = []
    try:
        while time.time() - started < args.seconds and sent < args.max_requests and not failure:
            sid = open_session(port)
            legacy = LegacyStream(port)
            batch = []
            for _ in range(args.batch):
                if time.time() - started >= args.seconds:
                    break
                template, count = gen.next()
                data = fill(template, sid, legacy.endpoint)
                batch.append(data)
                sent += count
                try:
                    responses, problem = exchange(port, data, count)
                except OSError as error:
                    if not server.alive():
                        failure = "the server exited (status %s)" % server.process.returncode
                        break
                    responses, problem = [], None
                    if isinstance(error, ConnectionRefusedError):
                        failure = "connection refused: %s" % error
                        break
                for status, _ in responses:
                    statuses[status] += 1
                    if status >= 500 and status not in ALLOWED_5XX:
                        failure = "answered %d" % status
                if problem:
                    failure = failure or problem
                if not server.alive():
                    failure = "the server exited (status %s)" % server.process.returncode
                if failure:
                    break
            legacy.close()
            close_session(port, sid)
            if failure:
                break
            try:
                status, _, body = request(port, "GET", "/healthz", timeout=5)
                if status != 200:
                    failure = "/healthz answered %s %r" % (status, body[:200])
            except OSError as error:
                failure = "/healthz did not answer within 5 s: %s" % error
        exit_status = server.stop() if not failure else None
        if not failure and exit_status is None:
            failure = "did not exit within 15 s of SIGTERM"
        elif not failure and exit_status != 0:
            failure = "exited with status %s on SIGTERM" % exit_status
    finally:
        if server.alive():
            server.stop()
    elapsed = time.time() - started
    summary = ", ".join("%d: %d" % kv for kv in sorted(statuses.items()))
    if failure:
        os.makedirs(args.crashes, exist_ok=True)
        base = os.path.join(args.crashes, "http-%d-%d" % (seed, int(time.time())))
        with open(base + ".requests", "wb") as f:
            for i, data in enumerate(batch):
                f.write(b"===== request %d\n" % i + data + b"\n")
        with open(base + ".txt", "w") as f:
            f.write("%s\nseed %d; the last request of %s.requests is the one answered so; the server's log:\n%s\n"
                    % (failure, seed, os.path.basename(base), "\n".join(server.log)))
        print("http_fuzz: FAILED: %s\nhttp_fuzz: the requests of that batch are in %s.requests, what failed in %s.txt"
              % (failure, base, base))
        print("http_fuzz: %d requests in %.0f s (statuses %s)" % (sent, elapsed, summary))
        return 1
    print("http_fuzz: %d requests in %.0f s (statuses %s), healthy after every batch, clean exit on SIGTERM"
          % (sent, elapsed, summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
