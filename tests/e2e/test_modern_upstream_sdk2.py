"""End-to-end: a stdio server written with the official Python SDK 2.3's `MCPServer`
(modern_upstream.py) behind `orch serve`, driven by the SDK 2.x `Client`.

orch.json leaves the server's protocol to "auto": the gateway asks it server/discover once, finds
2026-07-28, and speaks that era to it for clients of either era. The Client in mode "auto" speaks
2026-07-28 to the gateway too (same era: requests and the server's `input_required` pass through,
its sealed requestState untouched); in mode "legacy" it initializes a session, which the gateway
answers from the server's discover result.

Run with the 2.x venv:  cd tests/e2e && ../../.venv-mcp2/bin/python test_modern_upstream_sdk2.py -v
"""
import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

import httpx2
import mcp.types as types
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from mcp_fixtures import ADMIN, CALLER, ORG, WAIT, GatewayTestCase, ProcessOutput, policy, venv_with_fastmcp  # noqa: E402

UPSTREAM = {"command": sys.executable, "args": [os.path.join(HERE, "modern_upstream.py")]}


def answering(name):
    """An elicitation callback that answers `name`, and the list of the messages it was asked."""
    asked = []

    async def on_elicitation(context, params):
        asked.append(params.message)
        return types.ElicitResult(action="accept", content={"name": name})

    return asked, on_elicitation


class ModernUpstreamCase(GatewayTestCase):
    mode = "auto"
    protocol = None  # the server entry's "protocol"; None: left to "auto"

    def setUp(self):
        server = dict(UPSTREAM, **({"protocol": self.protocol} if self.protocol else {}))
        self.document = policy(extra_servers={"modern": server}, extra_allow=["modern:echo"])
        super().setUp()

    @contextlib.asynccontextmanager
    async def connect(self, token, elicitation_callback=None):
        headers = {"Authorization": "Bearer " + token}
        async with self.http_client_factory(headers=headers, timeout=httpx2.Timeout(WAIT, read=WAIT * 10)) as http:
            transport = streamable_http_client(self.gateway.url("modern", "mcp", ORG), http_client=http)
            async with Client(transport, read_timeout_seconds=WAIT, mode=self.mode, elicitation_callback=elicitation_callback) as client:
                yield client

    def test_calls_are_decided_and_answered_by_the_modern_server(self):
        async def body():
            async with self.connect(CALLER) as client:
                tools = [t.name for t in (await client.list_tools()).tools]
                echoed = await client.call_tool("echo", {"text": "through"})
                with self.assertRaises(MCPError) as refused:
                    await client.call_tool("greet", {})
                return client.server_info.name, tools, echoed, str(refused.exception)

        name, tools, echoed, refused = self.run_async(body, timeout=3 * WAIT)
        self.assertEqual(name, "modern-upstream", self.diagnostics())
        # eve's role allows echo only: the list is filtered and greet never reaches the server.
        self.assertEqual(tools, ["echo"], self.diagnostics())
        self.assertEqual([c.text for c in echoed.content], ["through"])
        self.assertIn("Tool greet is not permitted for eve", refused)
        self.assertTrue(any(r["method"] == "tools/call" and r.get("tool") == "greet" and r["decision"] == "deny"
                            for r in self.gateway.audit_records()), self.diagnostics())
        self.assertTrue(any(r["method"] == "tools/call" and r.get("tool") == "echo" and r["server"] == "modern" and r["decision"] == "allow"
                            for r in self.gateway.audit_records()), self.diagnostics())


class ModernClient(ModernUpstreamCase):
    def test_an_elicitation_passes_through_as_input_required_and_the_retry_is_answered(self):
        asked, on_elicitation = answering("ada")

        async def body():
            async with self.connect(ADMIN, elicitation_callback=on_elicitation) as client:
                self.assertEqual(client.protocol_version, "2026-07-28")
                return await client.call_tool("greet", {})

        greeted = self.run_async(body, timeout=3 * WAIT)
        self.assertEqual([c.text for c in greeted.content], ["hello ada"], self.diagnostics())
        self.assertEqual(asked, ["What is your name?"])
        calls = [r for r in self.gateway.audit_records() if r["method"] == "tools/call" and r.get("tool") == "greet"]
        # The first round and the retry are each decided and audited.
        self.assertEqual([r["decision"] for r in calls], ["allow", "allow"], self.diagnostics())


class LegacyClient(ModernUpstreamCase):
    mode = "legacy"

    def test_the_servers_question_is_asked_on_the_session_and_the_answer_goes_back(self):
        asked, on_elicitation = answering("ada")

        async def body():
            async with self.connect(ADMIN, elicitation_callback=on_elicitation) as client:
                self.assertIn(client.protocol_version, {"2025-11-25", "2025-06-18"})
                self.assertEqual(client.server_info.name, "modern-upstream")
                echoed = await client.call_tool("echo", {"text": "legacy"})
                greeted = await client.call_tool("greet", {})
                return echoed, greeted

        echoed, greeted = self.run_async(body, timeout=3 * WAIT)
        self.assertEqual([c.text for c in echoed.content], ["legacy"], self.diagnostics())
        # The server's input_required became an elicitation/create on the client's session, and its
        # answer went back with the server's sealed requestState, untouched.
        self.assertEqual(asked, ["What is your name?"], self.diagnostics())
        self.assertEqual([c.text for c in greeted.content], ["hello ada"], self.diagnostics())

    def test_a_client_that_cannot_answer_gets_an_error_naming_the_capability(self):
        async def body():
            async with self.connect(ADMIN) as client:
                with self.assertRaises(MCPError) as refused:
                    await client.call_tool("greet", {})
                return refused.exception

        refused = self.run_async(body, timeout=3 * WAIT)
        self.assertEqual(refused.error.code, -32021, self.diagnostics())
        self.assertIn("elicitation", str(refused))


class ModernClientOfTheServerInTheHandshakeEra(ModernUpstreamCase):
    """orch.json says "legacy": the gateway initializes the server and holds that session for the
    2026-07-28 client, whose envelope it keeps out of what it forwards (the SDK's server refuses
    an enveloped request on a handshake-era connection)."""
    protocol = "legacy"


class HandshakeEraServerThatAsks(GatewayTestCase):
    """The other way round: a 2026-07-28 client (mode "auto") of a handshake-era server
    (interactive_upstream.py, FastMCP of the SDK 1.x) whose tools send elicitation/create and
    sampling/createMessage mid-call. The gateway holds the server's request, answers the client's
    POST `input_required` with a requestState it seals, and delivers the client's retry's answer to
    the server; the SDK's Client does the rounds itself."""

    def setUp(self):
        upstream = {"command": venv_with_fastmcp(), "args": [os.path.join(HERE, "interactive_upstream.py")]}
        self.document = policy(extra_servers={"interactive": upstream})
        super().setUp()

    def test_elicitation_and_sampling_are_asked_of_the_client_and_the_calls_go_on(self):
        asked = []

        async def elicit(context, params):
            asked.append(params.message)
            return types.ElicitResult(action="accept", content={"name": "ada", "confirmed": True})

        async def sample(context, params):
            asked.append(params.messages[0].content.text)
            return types.CreateMessageResult(role="assistant", content=types.TextContent(type="text", text="forty-two"), model="e2e")

        async def body():
            headers = {"Authorization": "Bearer " + ADMIN}
            async with self.http_client_factory(headers=headers, timeout=httpx2.Timeout(WAIT, read=WAIT * 10)) as http:
                transport = streamable_http_client(self.gateway.url("interactive", "mcp", ORG), http_client=http)
                async with Client(transport, read_timeout_seconds=WAIT, elicitation_callback=elicit, sampling_callback=sample) as client:
                    self.assertEqual(client.protocol_version, "2026-07-28")
                    answered = await client.call_tool("ask_user", {"question": "Who are you?"})
                    modelled = await client.call_tool("ask_model", {"prompt": "the answer?"})
                    return answered, modelled

        answered, modelled = self.run_async(body, timeout=3 * WAIT)
        self.assertEqual([c.text for c in answered.content], ["accepted: name=ada confirmed=True"], self.diagnostics())
        self.assertEqual([c.text for c in modelled.content], ["model said: forty-two"], self.diagnostics())
        self.assertEqual(asked, ["Who are you?", "the answer?"])
        # Each round was decided; the call's outcome is audited once.
        outcomes = [r for r in self.gateway.audit_records() if r["method"] == "tools/call" and r.get("tool") == "ask_user"]
        self.assertEqual([r["decision"] for r in outcomes], ["allow"], self.diagnostics())


class RemoteModernUpstream(ModernUpstreamCase):
    """The same server over Streamable HTTP (modern_upstream.py http) as a url server: the gateway
    asks it server/discover by POST, then posts each call on its own with its routing headers and
    no session (Mcp-Param-Region mirrored from the call's argument, which the SDK's server checks)."""

    def setUp(self):
        folder = tempfile.mkdtemp(prefix="orch-e2e-modern-remote-")
        self.addCleanup(lambda: shutil.rmtree(folder, ignore_errors=True))
        self.record = os.path.join(folder, "requests.jsonl")
        env = dict(os.environ, UPSTREAM_RECORD=self.record)
        process = subprocess.Popen([sys.executable, os.path.join(HERE, "modern_upstream.py"), "http"],
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        output = ProcessOutput(process, (process.stdout,))

        def stop():
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            output.close()

        self.addCleanup(stop)
        port = re.search(r":(\d+)", output.wait_for(r"modern upstream listening on 127\.0\.0\.1:\d+", WAIT)).group(1)
        server = {"url": "http://127.0.0.1:%s/mcp" % port}
        if self.protocol:
            server["protocol"] = self.protocol
        self.document = policy(extra_servers={"modern": server}, extra_allow=["modern:echo"])
        GatewayTestCase.setUp(self)

    def requests(self):
        with open(self.record) as f:
            return [json.loads(line) for line in f if line.strip()]

    def diagnostics(self):
        return "%s\n--- upstream requests:\n%s" % (super().diagnostics(), "\n".join(map(str, self.requests())))

    def test_each_call_is_its_own_exchange_with_its_routing_headers(self):
        async def body():
            async with self.connect(ADMIN) as client:
                return await client.call_tool("where", {"region": "eu-west"})

        answered = self.run_async(body, timeout=3 * WAIT)
        self.assertEqual([c.text for c in answered.content], ["in eu-west"], self.diagnostics())
        calls = [dict((k.lower(), v) for k, v in r["headers"]) for r in self.requests() if r["rpc"] == "tools/call"]
        self.assertTrue(calls, self.diagnostics())
        for headers in calls:
            self.assertEqual(headers.get("mcp-protocol-version"), "2026-07-28", self.diagnostics())
            self.assertEqual((headers.get("mcp-method"), headers.get("mcp-name"), headers.get("mcp-param-region")),
                             ("tools/call", "where", "eu-west"), self.diagnostics())
            self.assertNotIn("mcp-session-id", headers)
        self.assertNotIn("initialize", [r["rpc"] for r in self.requests()], self.diagnostics())


class RemoteModernUpstreamModernClient(RemoteModernUpstream):
    test_an_elicitation_passes_through_as_input_required_and_the_retry_is_answered = \
        ModernClient.test_an_elicitation_passes_through_as_input_required_and_the_retry_is_answered


class RemoteModernUpstreamLegacyClient(RemoteModernUpstream):
    mode = "legacy"
    test_the_servers_question_is_asked_on_the_session_and_the_answer_goes_back = \
        LegacyClient.test_the_servers_question_is_asked_on_the_session_and_the_answer_goes_back


class RemoteModernUpstreamSaidSo(RemoteModernUpstream):
    protocol = "2026-07-28"


del ModernUpstreamCase, RemoteModernUpstream

if __name__ == "__main__":
    unittest.main()
