"""End-to-end: approval enforced by the gateway, with the official MCP Python SDK 2.x `Client`.

Run with the 2.x venv:  cd tests/e2e && ../../.venv-mcp2/bin/python test_approval_sdk2.py -v

acme/remote is remote_upstream.py (FastMCP, run by the 1.x venv), which records each tool it runs;
its `shout` needs the caller's approval. In its default mode the Client speaks 2026-07-28: the
gateway's question comes back as `input_required`, the SDK asks its own elicitation callback and
retries with the answer and the sealed `requestState`, and the call runs once it is approved; a
decline runs nothing. In legacy mode the same question arrives as `elicitation/create` in the
session. A Client with no elicitation callback is refused.
"""
import contextlib
import os
import secrets
import sys
import unittest

import httpx2
import mcp.types as types
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mcp_fixtures import CALLER, ORG, WAIT, GatewayTestCase, RemoteUpstream, policy  # noqa: E402


class ApprovalCase(GatewayTestCase):
    mode = "auto"

    def setUp(self):
        self.folder = os.path.join(os.environ.get("TMPDIR", "/tmp"), "orch-e2e-approval2-%s" % secrets.token_hex(4))
        os.makedirs(self.folder)
        key = "upstream-key-" + secrets.token_hex(8)
        self.upstream = RemoteUpstream(key, os.path.join(self.folder, "requests.jsonl"))
        self.addCleanup(self.upstream.stop)
        self.document = policy(extra_servers={"remote": {
            "url": self.upstream.url, "headers": {"X-Upstream-Key": "${env:UPSTREAM_KEY}"},
            "approve": [{"tools": ["shout"], "by": "caller"}],
        }}, extra_allow=["remote"])
        self.env = {"UPSTREAM_KEY": key}
        super().setUp()

    def ran(self):
        return [r for r in self.upstream.records() if r["kind"] == "tool" and r["name"] == "shout"]

    @contextlib.asynccontextmanager
    async def connect(self, elicitation_callback=None):
        async with self.http_client_factory(headers={"Authorization": "Bearer " + CALLER}, timeout=httpx2.Timeout(WAIT, read=WAIT * 10)) as http:
            transport = streamable_http_client(self.gateway.url("remote", "mcp", ORG), http_client=http)
            async with Client(transport, read_timeout_seconds=WAIT, mode=self.mode, elicitation_callback=elicitation_callback) as client:
                yield client

    def shout(self, action, content=None):
        asked = []

        async def on_elicitation(context, params):
            asked.append(params.message)
            return types.ElicitResult(action=action, content=content)

        async def body():
            async with self.connect(on_elicitation if action else None) as client:
                try:
                    return client.protocol_version, await client.call_tool("shout", {"text": "go"})
                except MCPError as error:
                    return client.protocol_version, error
        version, result = self.run_async(body, timeout=3 * WAIT)
        return version, result, asked

    def test_approved_runs_once_and_declined_never(self):
        version, result, asked = self.shout("accept", {"approve": True})
        self.assertEqual(version == "2026-07-28", self.mode == "auto", version)
        self.assertEqual([c.text for c in result.content], ["GO!"], self.diagnostics())
        self.assertEqual(len(asked), 1)
        self.assertIn("Approve acme/remote shout", asked[0])
        self.assertEqual(len(self.ran()), 1)
        version, result, asked = self.shout("decline")
        self.assertTrue(result.is_error, result)
        self.assertIn("the approval was declined by eve", result.content[0].text)
        self.assertEqual(len(self.ran()), 1, "a declined call ran")

    def test_a_client_without_an_elicitation_callback_is_refused(self):
        version, error, asked = self.shout(None)
        self.assertIsInstance(error, MCPError)
        self.assertEqual(error.error.code, -32021 if self.mode == "auto" else -32602, error)
        self.assertEqual(self.ran(), [])


class ModernClient(ApprovalCase):
    mode = "auto"


class LegacyClient(ApprovalCase):
    mode = "legacy"


del ApprovalCase

if __name__ == "__main__":
    unittest.main()
