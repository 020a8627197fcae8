"""End-to-end: JSON the gateway relays as it came, and JSON it cannot relay (stdlib only).

`orch serve` in front of tests/e2e/json_upstream.py, whose replies each test writes byte for byte.
Numbers of any size pass both ways exactly; nesting up to the documented limit (128 levels) passes;
deeper nesting or a repeated key is answered at once with a JSON-RPC error that names it, with the
request's id, never left to the call timeout.

    ORCH_BIN=.build/debug/orch python3 test_json_passthrough.py -v
"""
import http.client
import json
import os
import secrets
import shutil
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

from orchserver import OrchServer, sha256  # noqa: E402

UPSTREAM = os.path.join(HERE, "json_upstream.py")
TOKEN = "orch_" + secrets.token_urlsafe(32)
PATH = "/orgs/acme/servers/json/mcp"
PROTOCOL = "2025-06-18"
CALL_TIMEOUT = 5          # gateway.limits.callTimeoutSeconds
AT_ONCE = 2.0             # an answer the gateway gives itself comes well before the timeout
JSON_ONLY = "application/json, text/event-stream"
SSE_ONLY = "text/event-stream"


def nested(depth, leaf="1"):
    """Arrays nested `depth` deep around `leaf`, as text."""
    return "[" * depth + leaf + "]" * depth


class JSONPassthroughTest(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        cls.folder = tempfile.mkdtemp(prefix="orch-e2e-json-")
        document = {
            "version": 1,
            "gateway": {"audit": "audit.jsonl", "limits": {"callTimeoutSeconds": CALL_TIMEOUT}},
            "roles": {"admin": {"allow": ["*"]}},
            "orgs": {"acme": {"members": {"ada": "admin"},
                              "servers": {"json": {"command": sys.executable, "args": [UPSTREAM]}}}},
            "users": {"ada": {"keys": [{"id": "k", "sha256": sha256(TOKEN)}]}},
        }
        path = os.path.join(cls.folder, "orch.json")
        with open(path, "w") as f:
            json.dump(document, f)
        cls.gateway = OrchServer(path)
        host, port = cls.gateway.base[len("http://"):].rsplit(":", 1)
        cls.host, cls.port = host, int(port)
        status, session, body, _ = cls.post(None, json.dumps({
            "jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {"protocolVersion": PROTOCOL, "capabilities": {}, "clientInfo": {"name": "e2e", "version": "1"}}}))
        assert status == 200 and session, "initialize: HTTP %d %s" % (status, body)
        cls.session = session
        status, _, body, _ = cls.post(session, '{"jsonrpc":"2.0","method":"notifications/initialized"}')
        assert status == 202, "notifications/initialized: HTTP %d %s" % (status, body)

    @classmethod
    def tearDownClass(cls):
        cls.gateway.stop()
        shutil.rmtree(cls.folder, True)

    @classmethod
    def post(cls, session, body, accept=JSON_ONLY):
        """(status, Mcp-Session-Id, body text, seconds taken) of one POST of `body` as it is."""
        headers = {"Authorization": "Bearer " + TOKEN, "Accept": accept, "Content-Type": "application/json"}
        if session:
            headers["Mcp-Session-Id"] = session
            headers["MCP-Protocol-Version"] = PROTOCOL
        connection = http.client.HTTPConnection(cls.host, cls.port, timeout=CALL_TIMEOUT + 10)
        started = time.monotonic()
        try:
            connection.request("POST", PATH, body=body.encode(), headers=headers)
            response = connection.getresponse()
            text = response.read().decode()
            return response.status, response.getheader("Mcp-Session-Id"), text, time.monotonic() - started
        finally:
            connection.close()

    def call(self, tool, arguments_text, request_id="7", accept=JSON_ONLY):
        """(status, reply text, seconds) of tools/call with `arguments_text` as written; an SSE
        reply is reduced to its one message's text."""
        body = '{"jsonrpc":"2.0","id":%s,"method":"tools/call","params":{"name":"%s","arguments":%s}}' % (
            request_id, tool, arguments_text)
        status, _, text, elapsed = self.post(self.session, body, accept)
        if accept == SSE_ONLY and status == 200:
            data = [line[len("data: "):] for line in text.splitlines() if line.startswith("data: ")]
            self.assertEqual(len(data), 1, "one SSE message expected: %r" % text)
            text = data[0]
        return status, text, elapsed

    def reply_with(self, raw, request_id=7, accept=JSON_ONLY):
        """tools/call of `reply`: the server answers with `raw` as its result's JSON text."""
        return self.call("reply", json.dumps({"raw": raw}), str(request_id), accept)

    def assert_error_at_once(self, status, text, elapsed, request_id, code, *fragments, http_status=200):
        self.assertEqual(status, http_status, text)
        self.assertLess(elapsed, AT_ONCE, "answered only after %.2f s (the call timeout is %d s): %s" % (elapsed, CALL_TIMEOUT, text))
        reply = json.loads(text)
        self.assertEqual(reply.get("id"), request_id, text)
        self.assertEqual(reply.get("error", {}).get("code"), code, text)
        for fragment in fragments:
            self.assertIn(fragment, reply["error"]["message"], text)

    # upstream → client ---------------------------------------------------------------------------

    def test_numbers_of_any_size_in_a_reply_pass_through_exactly(self):
        for accept in (JSON_ONLY, SSE_ONLY):
            raw = ('{"content":[{"type":"text","text":"n"}],"structuredContent":{"big":18446744073709551616,'
                   '"negative":-99999999999999999999999,"huge":1e400,"long":123456789012345678901234567890.5e400}}')
            status, text, _ = self.reply_with(raw, accept=accept)
            self.assertEqual(status, 200, text)
            for literal in ("18446744073709551616", "-99999999999999999999999", "1e400", "123456789012345678901234567890.5e400"):
                self.assertIn(literal, text, "Accept %s" % accept)
            self.assertIn('"id":7', text)

    def test_a_reply_nested_within_the_limit_passes(self):
        status, text, _ = self.reply_with('{"content":[],"structuredContent":{"deep":%s}}' % nested(120))
        self.assertEqual(status, 200, text)
        self.assertIn(nested(120), text)

    def test_a_reply_nested_past_the_limit_is_answered_at_once_naming_the_limit(self):
        for accept in (JSON_ONLY, SSE_ONLY):
            status, text, elapsed = self.reply_with('{"content":[],"structuredContent":{"deep":%s}}' % nested(200), 8, accept)
            self.assert_error_at_once(status, text, elapsed, 8, -32603, "cannot be forwarded", "nesting deeper than 128 levels")

    def test_a_reply_with_a_repeated_key_is_answered_at_once_naming_it(self):
        status, text, elapsed = self.reply_with('{"content":[],"isError":false,"isError":true}', 9)
        self.assert_error_at_once(status, text, elapsed, 9, -32603, "cannot be forwarded", "duplicate object key")

    def test_the_session_goes_on_after_a_reply_it_could_not_forward(self):
        self.reply_with('{"deep":%s}' % nested(300), 10)
        status, text, _ = self.reply_with('{"content":[{"type":"text","text":"still here"}]}', 11)
        self.assertEqual(status, 200, text)
        self.assertIn("still here", text)

    def test_tools_list_keeps_the_big_integers_of_a_schema(self):
        # tools/list is filtered by the policy, so the gateway writes this reply itself.
        status, _, text, _ = self.post(self.session, '{"jsonrpc":"2.0","id":12,"method":"tools/list"}')
        self.assertEqual(status, 200, text)
        self.assertIn('"maximum":18446744073709551615', text)
        self.assertIn('"minimum":-99999999999999999999', text)

    # client → upstream ---------------------------------------------------------------------------

    def test_numbers_of_any_size_in_a_request_reach_the_server_exactly(self):
        status, text, _ = self.call("reflect", '{"n":18446744073709551616,"r":-1e999}', request_id="99999999999999999999")
        self.assertEqual(status, 200, text)
        self.assertIn('"id":99999999999999999999', text)
        seen = json.loads(text)["result"]["content"][0]["text"]
        self.assertIn('"arguments":{"n":18446744073709551616,"r":-1e999}', seen)
        self.assertIn('"id":99999999999999999999', seen)

    def test_a_request_nested_70_deep_reaches_the_server(self):
        status, text, _ = self.call("reflect", '{"deep":%s}' % nested(70))
        self.assertEqual(status, 200, text)
        self.assertIn(nested(70), json.loads(text)["result"]["content"][0]["text"])

    def test_a_request_nested_past_the_limit_is_refused_naming_the_limit(self):
        for accept in (JSON_ONLY, SSE_ONLY):
            status, text, elapsed = self.call("reflect", '{"deep":%s}' % nested(200), "13", accept)
            self.assert_error_at_once(status, text, elapsed, 13, -32700, "nesting deeper than 128 levels", http_status=400)

    def test_a_request_with_a_repeated_key_is_refused_naming_it(self):
        body = '{"jsonrpc":"2.0","id":14,"method":"tools/call","params":{"name":"reflect","name":"reply","arguments":{}}}'
        status, _, text, elapsed = self.post(self.session, body)
        self.assert_error_at_once(status, text, elapsed, 14, -32700, "duplicate object key", http_status=400)


if __name__ == "__main__":
    unittest.main()
