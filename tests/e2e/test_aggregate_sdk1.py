"""End-to-end: the aggregated endpoints (`/orgs/{org}/mcp`, `/mcp`) with the official MCP Python SDK
1.x (`mcp<2`) over Streamable HTTP.

Run with the 1.x venv:  cd tests/e2e && ../../.venv-mcp1/bin/python test_aggregate_sdk1.py -v

Behind acme's one endpoint: two stdio sample servers (notes, paged), the interactive FastMCP server
over stdio (sampling), a remote FastMCP server over Streamable HTTP, and a server whose command
does not exist. The client sees one MCP server whose tools, prompts and resources are every
server's under `PREFIX__NAME` (and `orch:PREFIX/…` URIs), filtered to its role; calls are decided
on the real (server, tool); the dead server is left out without holding up the others.
"""
import contextlib
import datetime
import os
import secrets
import sys
import tempfile
import unittest

import mcp.types as types
from mcp import ClientSession
from mcp.client.sse import sse_client
from mcp.shared.exceptions import McpError

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from test_mcp_sdk1 import open_streamable_http  # noqa: E402
from test_interactive_sdk1 import Client as InteractiveClient  # noqa: E402
from mcp_fixtures import ADMIN, CALLER, ORG, WAIT, GatewayTestCase, RemoteUpstream, policy  # noqa: E402


class AggregateCase(GatewayTestCase):
    transport = None  # "streamable-http" or "sse", set by the concrete classes below

    def setUp(self):
        self.key = "upstream-key-" + secrets.token_hex(8)
        folder = tempfile.mkdtemp(prefix="orch-e2e-aggregate-")
        self.addCleanup(lambda: __import__("shutil").rmtree(folder, ignore_errors=True))
        self.upstream = RemoteUpstream(self.key, os.path.join(folder, "requests.jsonl"))
        self.addCleanup(self.upstream.stop)
        servers = {
            "interactive": {"command": sys.executable, "args": [os.path.join(HERE, "interactive_upstream.py")]},
            "remote": {"url": self.upstream.url, "headers": {"X-Upstream-Key": "${env:UPSTREAM_KEY}"}},
            "dead": {"command": "/nonexistent/orch-e2e-dead-server"},
        }
        self.document = policy(extra_servers=servers,
                               extra_allow=["interactive:ask_model", "remote", "dead"], extra_deny=["remote:secret_*"])
        self.env = {"UPSTREAM_KEY": self.key}
        super().setUp()

    @contextlib.asynccontextmanager
    async def connect(self, token, path, client=None):
        headers = {"Authorization": "Bearer " + token}
        callbacks = {}
        if client is not None:
            callbacks = {"sampling_callback": client.on_sampling, "elicitation_callback": client.on_elicitation}
        timeout = datetime.timedelta(seconds=WAIT)
        if self.transport == "streamable-http":
            async with open_streamable_http(self.gateway.base + path, headers, self.http_client_factory) as (read, write, _):
                async with ClientSession(read, write, read_timeout_seconds=timeout, **callbacks) as session:
                    initialized = await session.initialize()
                    yield session, initialized
        else:
            url = self.gateway.base + path[:-len("/mcp")] + "/sse"
            async with sse_client(url, headers=headers, timeout=WAIT, sse_read_timeout=WAIT * 10,
                                  httpx_client_factory=self.http_client_factory) as (read, write):
                async with ClientSession(read, write, read_timeout_seconds=timeout, **callbacks) as session:
                    initialized = await session.initialize()
                    yield session, initialized

    async def all_tools(self, session):
        names, cursor = [], None
        for _ in range(20):
            result = await session.list_tools(params=types.PaginatedRequestParams(cursor=cursor))
            names += [t.name for t in result.tools]
            cursor = result.nextCursor
            if cursor is None:
                break
        return names

    def test_one_endpoint_lists_every_servers_tools_filtered_and_the_dead_one_blocks_nothing(self):
        async def body():
            async with self.connect(CALLER, "/orgs/%s/mcp" % ORG) as (session, initialized):
                self.assertEqual(initialized.serverInfo.name, "orch")
                self.assertIsNotNone(initialized.capabilities.tools)
                return await self.all_tools(session)

        names = self.run_async(body, timeout=3 * WAIT)
        self.assertEqual(sorted(names), sorted(["notes__echo", "notes__add", "paged__echo", "paged__add",
                                                "interactive__ask_model", "remote__shout"]), self.diagnostics())
        left_out = [r for r in self.gateway.audit_records() if r["decision"] == "error"]
        self.assertTrue(any("acme/dead is left out of tools/list" in r["reason"] for r in left_out), self.diagnostics())

    def test_calls_are_routed_and_decided_on_the_real_server_and_tool(self):
        async def body():
            async with self.connect(CALLER, "/orgs/%s/mcp" % ORG) as (session, _):
                echoed = await session.call_tool("notes__echo", {"text": "one endpoint"})
                shouted = await session.call_tool("remote__shout", {"text": "remote"})
                refusals = []
                for name in ["notes__write_note", "remote__secret_admin"]:
                    try:
                        await session.call_tool(name, {"name": "a", "text": "t"} if "note" in name else {})
                        refusals.append(None)
                    except McpError as error:
                        refusals.append(error.error.message)
                return echoed, shouted, refusals

        echoed, shouted, refusals = self.run_async(body, timeout=3 * WAIT)
        self.assertEqual([c.text for c in echoed.content], ["one endpoint"])
        self.assertEqual([c.text for c in shouted.content], ["REMOTE!"], self.diagnostics())
        self.assertEqual(refusals, ["Tool write_note is not permitted for eve on acme/notes",
                                    "Tool secret_admin is not permitted for eve on acme/remote"], self.diagnostics())
        denied = [(r["server"], r["tool"]) for r in self.gateway.audit_records() if r["decision"] == "deny" and r.get("tool")]
        self.assertIn(("notes", "write_note"), denied)
        self.assertIn(("remote", "secret_admin"), denied)
        # The remote server never saw the refused call.
        self.assertNotIn("secret_admin", [r.get("name") for r in self.upstream.records() if r.get("kind") == "tool"])

    def test_prompts_and_resources_come_through_under_the_servers_prefix(self):
        async def body():
            async with self.connect(ADMIN, "/orgs/%s/mcp" % ORG) as (session, _):
                prompts = await session.list_prompts()
                prompt = await session.get_prompt("notes__summarize", {"topic": "aggregation"})
                resources = await session.list_resources()
                index = [r for r in resources.resources if str(r.uri).startswith("orch:notes/")]
                read = await session.read_resource(index[0].uri) if index else None
                return [p.name for p in prompts.prompts], prompt, [str(r.uri) for r in resources.resources], read

        prompts, prompt, uris, read = self.run_async(body, timeout=3 * WAIT)
        self.assertIn("notes__summarize", prompts)
        self.assertIn("paged__draft_note", prompts)
        self.assertTrue(prompt.messages, self.diagnostics())
        self.assertIn("orch:notes/notes%3A%2F%2Findex", uris)
        self.assertIsNotNone(read, self.diagnostics())
        self.assertTrue(read.contents, self.diagnostics())

    def test_sampling_round_trips_through_the_aggregate(self):
        client = InteractiveClient()

        async def body():
            async with self.connect(CALLER, "/orgs/%s/mcp" % ORG, client=client) as (session, _):
                return await session.call_tool("interactive__ask_model", {"prompt": "what is six times seven?"})

        result = self.run_async(body, timeout=3 * WAIT)
        self.assertFalse(result.isError, self.diagnostics())
        self.assertEqual(len(client.sampling), 1, self.diagnostics())
        self.assertIn("42", " ".join(c.text for c in result.content if c.type == "text"))

    def test_every_org_behind_mcp_with_the_org_in_front(self):
        async def body():
            async with self.connect(ADMIN, "/mcp") as (session, initialized):
                names = await self.all_tools(session)
                echoed = await session.call_tool("acme__notes__echo", {"text": "top"})
                return names, echoed

        names, echoed = self.run_async(body, timeout=3 * WAIT)
        self.assertIn("acme__notes__echo", names)
        self.assertIn("acme__remote__shout", names)
        self.assertEqual([c.text for c in echoed.content], ["top"])



class StreamableHTTP(AggregateCase):
    transport = "streamable-http"


class LegacySSE(AggregateCase):
    transport = "sse"


del AggregateCase  # only the concrete transports run

if __name__ == "__main__":
    unittest.main()
