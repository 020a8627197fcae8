"""End-to-end: the aggregated endpoints (`/orgs/{org}/mcp`, `/mcp`, and their legacy SSE pairs)
with the official MCP Python SDK 2.x (`mcp>=2`) `Client`. In its default mode ("auto") it probes
`server/discover`: the aggregated Streamable HTTP endpoints answer it, and the Client speaks
2026-07-28 (no session; the gateway routes each request to the key's held leg of its server). Over
legacy SSE, and in the *LegacyMode class, it initializes a session.

Run with the 2.x venv:  cd tests/e2e && ../../.venv-mcp2/bin/python test_aggregate_sdk2.py -v

Behind acme's one endpoint: two stdio sample servers (notes, paged), a remote FastMCP server over
Streamable HTTP, and a server whose command does not exist.
"""
import contextlib
import os
import secrets
import sys
import tempfile
import unittest

import anyio
import httpx2
from mcp import Client
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mcp_fixtures import ADMIN, CALLER, ORG, WAIT, GatewayTestCase, RemoteUpstream, policy  # noqa: E402


class AggregateCase(GatewayTestCase):
    transport = None  # "streamable-http" or "sse", set by the concrete classes below
    mode = "auto"  # the Client's; "auto" speaks 2026-07-28 over Streamable HTTP

    @property
    def modern(self):
        return self.transport == "streamable-http" and self.mode != "legacy"

    def setUp(self):
        self.key = "upstream-key-" + secrets.token_hex(8)
        folder = tempfile.mkdtemp(prefix="orch-e2e-aggregate2-")
        self.addCleanup(lambda: __import__("shutil").rmtree(folder, ignore_errors=True))
        self.upstream = RemoteUpstream(self.key, os.path.join(folder, "requests.jsonl"))
        self.addCleanup(self.upstream.stop)
        servers = {
            "remote": {"url": self.upstream.url, "headers": {"X-Upstream-Key": "${env:UPSTREAM_KEY}"}},
            "dead": {"command": "/nonexistent/orch-e2e-dead-server"},
        }
        self.document = policy(extra_servers=servers, extra_allow=["remote", "dead"], extra_deny=["remote:secret_*"])
        self.env = {"UPSTREAM_KEY": self.key}
        super().setUp()

    @contextlib.asynccontextmanager
    async def connect(self, token, path):
        headers = {"Authorization": "Bearer " + token}
        if self.transport == "streamable-http":
            async with self.http_client_factory(headers=headers, timeout=httpx2.Timeout(WAIT, read=WAIT * 10)) as http:
                async with Client(streamable_http_client(self.gateway.base + path, http_client=http), read_timeout_seconds=WAIT,
                                  mode=self.mode) as client:
                    yield client
        else:
            url = self.gateway.base + path[:-len("/mcp")] + "/sse"
            transport = sse_client(url, headers=headers, timeout=WAIT, sse_read_timeout=WAIT * 10,
                                   httpx_client_factory=self.http_client_factory)
            async with Client(transport, read_timeout_seconds=WAIT, mode=self.mode) as client:
                yield client

    async def all_tools(self, client):
        names, cursor = [], None
        for _ in range(20):
            result = await client.list_tools(cursor=cursor)
            names += [t.name for t in result.tools]
            cursor = result.next_cursor
            if cursor is None:
                break
        return names

    def test_merged_filtered_lists_and_calls_decided_on_the_real_server(self):
        async def body():
            async with self.connect(CALLER, "/orgs/%s/mcp" % ORG) as client:
                self.assertEqual(client.server_info.name, "orch")
                names = await self.all_tools(client)
                echoed = await client.call_tool("paged__echo", {"text": "sdk 2"})
                shouted = await client.call_tool("remote__shout", {"text": "two"})
                with self.assertRaises(MCPError) as caught:
                    await client.call_tool("notes__write_note", {"name": "a", "text": "t"})
                return names, echoed, shouted, str(caught.exception)

        names, echoed, shouted, refused = self.run_async(body, timeout=3 * WAIT)
        self.assertEqual(self.modern, any(r["method"] == "server/discover" and r["decision"] == "allow"
                                          for r in self.gateway.audit_records()), self.diagnostics())
        self.assertEqual(sorted(names), sorted(["notes__echo", "notes__add", "paged__echo", "paged__add", "remote__shout"]),
                         self.diagnostics())
        self.assertEqual([c.text for c in echoed.content], ["sdk 2"])
        self.assertEqual([c.text for c in shouted.content], ["TWO!"])
        self.assertIn("Tool write_note is not permitted for eve on acme/notes", refused)
        self.assertTrue(any("acme/dead is left out" in r["reason"] for r in self.gateway.audit_records() if r["decision"] == "error"),
                        self.diagnostics())

    def test_prompts_and_resources_and_every_org_on_mcp(self):
        async def body():
            async with self.connect(ADMIN, "/mcp") as client:
                prompt = await client.get_prompt("acme__notes__summarize", {"topic": "two"})
                resources = await client.list_resources()
                uris = [str(r.uri) for r in resources.resources]
                read = await client.read_resource("orch:acme/notes/notes%3A%2F%2Findex")
                return prompt, uris, read

        prompt, uris, read = self.run_async(body, timeout=3 * WAIT)
        self.assertTrue(prompt.messages, self.diagnostics())
        self.assertIn("orch:acme/notes/notes%3A%2F%2Findex", uris)
        self.assertTrue(read.contents, self.diagnostics())


class StreamableHTTP(AggregateCase):
    transport = "streamable-http"

    def test_a_listen_stream_carries_each_servers_changes_under_exposed_names(self):
        # 2026-07-28: one subscriptions/listen on the endpoint hears every server; a note written
        # on acme/notes changes its resource list.
        async def body():
            async with self.connect(ADMIN, "/orgs/%s/mcp" % ORG) as client:
                async with client.listen(resources_list_changed=True) as sub:
                    result = await client.call_tool("notes__write_note", {"name": "n1", "text": "hi"})
                    self.assertEqual(result.content[0].text, "wrote n1")
                    with anyio.fail_after(WAIT):
                        event = await sub.__anext__()
                    self.assertEqual(type(event).__name__, "ResourcesListChanged")
                read = await client.read_resource("orch:notes/notes%3A%2F%2Findex", cache_mode="bypass")
                return read

        read = self.run_async(body, timeout=3 * WAIT)
        self.assertEqual(read.contents[0].text, "n1: hi", self.diagnostics())


class StreamableHTTPLegacyMode(AggregateCase):
    transport = "streamable-http"
    mode = "legacy"


class LegacySSE(AggregateCase):
    transport = "sse"


del AggregateCase  # only the concrete transports run

if __name__ == "__main__":
    unittest.main()
