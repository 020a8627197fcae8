"""End-to-end: the MCP fast path (requests answered on the event loop) against the router.

A session's ordinary requests are answered by the fast path; everything else by the router. These
tests check that a client cannot tell them apart: the same answers for the same requests, and the
answers of pipelined requests on one connection in order, whichever part answers each.

    ORCH_BIN=.build/debug/orch python3 test_fast_path.py -v
"""
import json
import os
import secrets
import shutil
import socket
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

from orchserver import ORCH, OrchServer, sha256  # noqa: E402

TOKEN = "orch_" + secrets.token_urlsafe(32)
OTHER = "orch_" + secrets.token_urlsafe(32)
PATH = "/orgs/acme/servers/notes/mcp"


def read_response(stream):
    """One HTTP/1.1 response from a file-like socket: (status, headers, body bytes)."""
    status_line = stream.readline().decode()
    status = int(status_line.split()[1])
    headers = {}
    while True:
        line = stream.readline().decode().rstrip("\r\n")
        if not line:
            break
        name, value = line.split(":", 1)
        headers[name.strip().lower()] = value.strip()
    if "content-length" in headers:
        body = stream.read(int(headers["content-length"]))
    elif headers.get("transfer-encoding") == "chunked":
        body = b""
        while True:
            size = int(stream.readline().strip(), 16)
            if size == 0:
                stream.readline()
                break
            body += stream.read(size)
            stream.readline()
    else:
        body = b""
    return status, headers, body


def request_bytes(message, session=None, token=TOKEN, accept="application/json, text/event-stream", extra=None):
    body = json.dumps(message).encode()
    lines = ["POST %s HTTP/1.1" % PATH, "Host: 127.0.0.1", "Authorization: Bearer " + token, "Content-Type: application/json",
             "Accept: " + accept, "Content-Length: %d" % len(body)]
    if session:
        lines.append("Mcp-Session-Id: " + session)
    lines += extra or []
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def json_of(body):
    """The JSON-RPC message of a JSON body or of an SSE body's message event."""
    text = body.decode()
    if text.startswith("event:") or text.startswith("data:"):
        data = [line[len("data: "):] for line in text.splitlines() if line.startswith("data: ")]
        return json.loads("\n".join(data))
    return json.loads(text)


class FastPath(unittest.TestCase):
    def setUp(self):
        self.folder = tempfile.mkdtemp(prefix="orch-fast-")
        self.addCleanup(shutil.rmtree, self.folder, True)
        document = {
            "version": 1,
            "gateway": {"audit": "audit.jsonl", "allowedOrigins": ["https://ok.example"], "limits": {"callTimeoutSeconds": 10}},
            "roles": {"caller": {"allow": ["notes:echo", "notes:add", "notes:write_note", "notes:resources/notes://note/public/*"]}},
            "orgs": {"acme": {"members": {"eve": "caller", "oli": "caller"},
                              "servers": {"notes": {"command": ORCH, "args": ["sample-server"]}}}},
            "users": {"eve": {"keys": [{"id": "k", "sha256": sha256(TOKEN)}]},
                      "oli": {"keys": [{"id": "k", "sha256": sha256(OTHER)}]}},
        }
        path = os.path.join(self.folder, "orch.json")
        with open(path, "w") as f:
            json.dump(document, f)
        self.gateway = OrchServer(path)
        self.addCleanup(self.gateway.stop)
        host, port = self.gateway.base[len("http://"):].rsplit(":", 1)
        self.socket = socket.create_connection((host, int(port)), timeout=15)
        self.addCleanup(self.socket.close)
        self.stream = self.socket.makefile("rb")
        status, headers, _ = self.exchange({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}})
        self.assertEqual(status, 200)
        self.session = headers["mcp-session-id"]
        self.assertEqual(self.exchange({"jsonrpc": "2.0", "method": "notifications/initialized"}, self.session)[0], 202)

    def exchange(self, message, session=None, **options):
        self.socket.sendall(request_bytes(message, session, **options))
        return read_response(self.stream)

    def audit(self):
        with open(os.path.join(self.folder, "audit.jsonl")) as f:
            return [json.loads(line) for line in f if line.strip()]

    def test_pipelined_requests_are_answered_in_order_whoever_answers_them(self):
        call = lambda i, text, **extra: {"jsonrpc": "2.0", "id": i, "method": "tools/call",
                                         "params": {"name": "echo", "arguments": dict(text=text, **extra)}}
        batch = (request_bytes(call(1, "one"), self.session)
                 # SSE only: the router answers this one, as a stream.
                 + request_bytes({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}, self.session, accept="text/event-stream")
                 + request_bytes(call(3, "three", delayMs=300), self.session)
                 + request_bytes(call(4, "four"), self.session)
                 # Refused at the gateway, never forwarded.
                 + request_bytes({"jsonrpc": "2.0", "id": 5, "method": "tools/call", "params": {"name": "delete_note", "arguments": {}}}, self.session))
        self.socket.sendall(batch)
        replies = [read_response(self.stream) for _ in range(5)]
        self.assertEqual([status for status, _, _ in replies], [200] * 5)
        self.assertEqual([json_of(body)["id"] for _, _, body in replies], [1, 2, 3, 4, 5])
        self.assertEqual(replies[1][1]["content-type"], "text/event-stream")
        self.assertEqual(json_of(replies[2][2])["result"]["content"][0]["text"], "three")
        self.assertEqual(json_of(replies[4][2])["error"]["code"], -32602)

    def test_the_fast_path_and_the_router_give_the_same_answers(self):
        # A refused tool: -32602 naming it, and a deny in the audit log.
        status, _, body = self.exchange({"jsonrpc": "2.0", "id": 7, "method": "tools/call",
                                         "params": {"name": "delete_note", "arguments": {"name": "x"}}}, self.session)
        self.assertEqual((status, json_of(body)["error"]["code"]), (200, -32602))
        self.assertIn("delete_note", json_of(body)["error"]["message"])
        # Another key with this session: 404, like an unknown session.
        self.assertEqual(self.exchange({"jsonrpc": "2.0", "id": 8, "method": "tools/list"}, self.session, token=OTHER)[0], 404)
        self.assertEqual(self.exchange({"jsonrpc": "2.0", "id": 8, "method": "tools/list"}, "0" * 32)[0], 404)
        # An unknown token: 401 with the challenge.
        status, headers, _ = self.exchange({"jsonrpc": "2.0", "id": 9, "method": "tools/list"}, self.session, token="orch_nope")
        self.assertEqual(status, 401)
        self.assertIn("bearer", headers["www-authenticate"].lower())
        # An Origin not allowed: 403; an unsupported protocol version: 400.
        self.assertEqual(self.exchange({"jsonrpc": "2.0", "id": 10, "method": "tools/list"}, self.session,
                                       extra=["Origin: https://evil.example"])[0], 403)
        self.assertEqual(self.exchange({"jsonrpc": "2.0", "id": 11, "method": "tools/list"}, self.session,
                                       extra=["MCP-Protocol-Version: 1999-01-01"])[0], 400)
        # Not JSON-RPC: 400 with -32600.
        status, _, body = self.exchange({"hello": "world"}, self.session)
        self.assertEqual((status, json_of(body)["error"]["code"]), (400, -32600))
        # And the connection still serves.
        status, headers, body = self.exchange({"jsonrpc": "2.0", "id": 12, "method": "tools/call",
                                               "params": {"name": "echo", "arguments": {"text": "still"}}}, self.session)
        self.assertEqual((status, headers["content-type"]), (200, "application/json"))
        self.assertIn("date", headers)
        self.assertEqual(json_of(body)["result"]["content"][0]["text"], "still")
        denied = [r for r in self.audit() if r.get("tool") == "delete_note"]
        self.assertEqual([(r["decision"], r["user"]) for r in denied], [("deny", "eve")])

    def test_2026_07_28_requests_get_the_same_answers_from_the_router_and_the_fast_path(self):
        # The first request of a key opens its held upstream session (the router); the same requests
        # afterwards are answered on the event loop. A client cannot tell which.
        envelope = {"io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {}}

        def modern(i, method, params=None, name=None, accept="application/json, text/event-stream", headers=None):
            message = {"jsonrpc": "2.0", "method": method, "params": dict(params or {}, _meta=envelope)}
            if i is not None:
                message["id"] = i
            extra = ["MCP-Protocol-Version: 2026-07-28", "Mcp-Method: " + method]
            if name:
                extra.append("Mcp-Name: " + name)
            return request_bytes(message, token=OTHER, accept=accept, extra=extra + (headers or []))

        def batch():
            return (modern(1, "tools/call", {"name": "echo", "arguments": {"text": "one"}}, "echo")
                    + modern(2, "tools/call", {"name": "delete_note", "arguments": {"name": "x"}}, "delete_note")
                    + modern(3, "tools/call", {"name": "echo", "arguments": {"text": "x"}}, "add")
                    + modern(4, "tools/list", accept="text/event-stream")
                    + modern(None, "notifications/cancelled", {"requestId": 1})
                    + modern(5, "ping"))

        answers = []
        for _ in range(2):
            self.socket.sendall(batch())
            replies = [read_response(self.stream) for _ in range(6)]
            answers.append([(status, headers.get("content-type"), json_of(body) if body else None) for status, headers, body in replies])
        first, second = answers
        self.assertEqual([a[0] for a in first], [200, 400, 400, 200, 202, 404])
        self.assertEqual(first[0][2]["result"]["content"][0]["text"], "one")
        self.assertEqual(first[0][2]["result"]["resultType"], "complete")
        self.assertEqual([first[1][2]["error"]["code"], first[2][2]["error"]["code"], first[5][2]["error"]["code"]], [-32602, -32020, -32601])
        self.assertEqual(first[3][1], "text/event-stream")
        self.assertEqual(second, first, "the held session's requests are answered as the first ones were")
        held = [r for r in self.audit() if r.get("method") == "initialize" and r.get("user") == "oli"]
        self.assertEqual(len(held), 1, "one held upstream session for oli's key")
        self.assertEqual(len([r for r in self.audit() if r.get("tool") == "delete_note" and r["user"] == "oli" and r["decision"] == "deny"]), 2)

    def get(self, path, token=TOKEN, extra=None):
        lines = ["GET %s HTTP/1.1" % path, "Host: 127.0.0.1", "Authorization: Bearer " + token] + (extra or [])
        self.socket.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        return read_response(self.stream)

    def test_api_reads_answered_on_the_event_loop_match_the_routers(self):
        for path in ["/api/v1/me", "/api/v1/servers"]:
            # With an allowed Origin the router answers; without, the event loop.
            status, headers, body = self.get(path)
            routed = self.get(path, extra=["Origin: https://ok.example"])
            self.assertEqual((status, headers["content-type"]), (200, "application/json"), path)
            self.assertEqual(json.loads(body), json.loads(routed[2]), path)
            self.assertIn("date", headers)
            self.assertEqual(headers.get("server"), routed[1].get("server"))
            # Each key its own answer; a refused token goes to the router (401 and its challenge).
            if path.endswith("/me"):
                self.assertEqual(json.loads(self.get(path, token=OTHER)[2])["user"], "oli")
            status, headers, _ = self.get(path, token="orch_nope")
            self.assertEqual(status, 401)
            self.assertIn("bearer", headers["www-authenticate"].lower())
        # Pipelined with an MCP call on the same connection: answered in order.
        call = request_bytes({"jsonrpc": "2.0", "id": 30, "method": "tools/call",
                              "params": {"name": "echo", "arguments": {"text": "before", "delayMs": 100}}}, self.session)
        me = "GET /api/v1/me HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n\r\n" % TOKEN
        self.socket.sendall(call + me.encode())
        first, second = read_response(self.stream), read_response(self.stream)
        self.assertEqual(json_of(first[2])["id"], 30)
        self.assertEqual(json.loads(second[2])["user"], "eve")

    def test_calls_are_audited_with_their_outcome_and_real_duration(self):
        self.exchange({"jsonrpc": "2.0", "id": 20, "method": "tools/call",
                       "params": {"name": "echo", "arguments": {"text": "slow", "delayMs": 200}}}, self.session)
        self.exchange({"jsonrpc": "2.0", "id": 21, "method": "tools/call",
                       "params": {"name": "add", "arguments": {"a": "x", "b": 1}}}, self.session)
        deadline = time.time() + 10
        while time.time() < deadline:
            calls = [r for r in self.audit() if r.get("method") == "tools/call"]
            if len(calls) >= 2:
                break
            time.sleep(0.05)
        echo = next(r for r in calls if r["tool"] == "echo")
        add = next(r for r in calls if r["tool"] == "add")
        self.assertGreaterEqual(echo["ms"], 200)
        self.assertNotIn("failed", echo["reason"])
        self.assertIn("the call failed", add["reason"])

    def test_a_resource_is_decided_and_forwarded_in_normal_form(self):
        def read(i, uri):
            status, headers, body = self.exchange({"jsonrpc": "2.0", "id": i, "method": "resources/read", "params": {"uri": uri}}, self.session)
            self.assertEqual((status, headers["content-type"]), (200, "application/json"), uri)
            return json_of(body)

        self.exchange({"jsonrpc": "2.0", "id": 40, "method": "tools/call",
                       "params": {"name": "write_note", "arguments": {"name": "public/a", "text": "first"}}}, self.session)
        # Another spelling of an allowed note reaches the server as the note's own URI.
        self.assertEqual(read(41, "NOTES://Note/public/./x/../%61")["result"]["contents"][0]["text"], "first")
        # Spellings of notes outside the allow rule, and URIs servers read differently: refused.
        refused = {
            "notes://note/public/../secret": "Resource notes://note/secret is not permitted for eve on acme/notes",
            "notes://note/public/%2e%2e/secret": "Resource notes://note/secret is not permitted for eve on acme/notes",
            " notes://note/public/a": 'Resource URI " notes://note/public/a" is refused: it starts or ends with a space',
            "notes://note/public/..%2Fsecret": 'Resource URI "notes://note/public/..%2Fsecret" is refused: an encoded',
        }
        for i, (uri, message) in enumerate(refused.items()):
            reply = read(50 + i, uri)
            self.assertEqual(reply["error"]["code"], -32602, uri)
            self.assertTrue(reply["error"]["message"].startswith(message), reply)
        deadline = time.time() + 10
        while time.time() < deadline:
            reads = [r for r in self.audit() if r.get("method") == "resources/read"]
            if len(reads) >= 5:
                break
            time.sleep(0.05)
        self.assertEqual([(r["decision"], r["target"]) for r in reads], [("allow", "notes://note/public/a")] + [
            ("deny", "notes://note/secret"), ("deny", "notes://note/secret"), ("deny", " notes://note/public/a"),
            ("deny", "notes://note/public/..%2Fsecret")])


if __name__ == "__main__":
    unittest.main()
