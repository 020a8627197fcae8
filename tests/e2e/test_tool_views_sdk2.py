"""End-to-end: tools that fit every client, with the official MCP Python SDK 2.x (`mcp>=2`) `Client`
speaking 2026-07-28 (no session): overridden names, an org's toolset, search mode, an empty view
that says why in `server/discover`, and an upstream that fails and recovers (a
`subscriptions/listen` stream hears tools/list_changed and the tools come back).

Run with the 2.x venv:  cd tests/e2e && ../../.venv-mcp2/bin/python test_tool_views_sdk2.py -v
"""
import contextlib
import os
import sys
import tempfile
import unittest

import anyio
import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mcp_fixtures import ADMIN, CALLER, ORG, WAIT, GatewayTestCase  # noqa: E402
from tool_view_fixtures import EMPTY, tool_views_policy  # noqa: E402


class ToolViews(GatewayTestCase):
    def setUp(self):
        folder = tempfile.mkdtemp(prefix="orch-e2e-views2-")
        self.addCleanup(lambda: __import__("shutil").rmtree(folder, ignore_errors=True))
        self.flag = os.path.join(folder, "up")
        self.document = tool_views_policy(self.flag)
        super().setUp()

    @contextlib.asynccontextmanager
    async def connect(self, token, path):
        headers = {"Authorization": "Bearer " + token}
        async with self.http_client_factory(headers=headers, timeout=httpx2.Timeout(WAIT, read=WAIT * 10)) as http:
            async with Client(streamable_http_client(self.gateway.base + path, http_client=http), read_timeout_seconds=WAIT) as client:
                yield client

    async def names(self, client):
        names, cursor = [], None
        for _ in range(20):
            page = await client.list_tools(cursor=cursor, cache_mode="bypass")
            names += [tool.name for tool in page.tools]
            cursor = page.next_cursor
            if cursor is None:
                break
        return names

    async def refusal(self, call):
        try:
            result = await call
        except MCPError as error:
            return str(error)
        if result.is_error:
            return result.content[0].text
        raise AssertionError("not refused: %r\n%s" % (result, self.diagnostics()))

    def test_overrides_toolsets_and_search_mode_in_2026(self):
        async def body():
            async with self.connect(CALLER, "/orgs/%s/servers/notes/mcp" % ORG) as client:
                own = await self.names(client)
                said = await client.call_tool("say", {"text": "modern"})
            async with self.connect(CALLER, "/orgs/%s/toolsets/basics/mcp" % ORG) as client:
                toolset = await self.names(client)
                outside = await self.refusal(client.call_tool("paged__add", {"a": 1, "b": 2}))
            async with self.connect(CALLER, "/orgs/%s/mcp?tools=search" % ORG) as client:
                listed = await self.names(client)
                found = await client.call_tool("find_tools", {"query": "note echo add write delete now text numbers", "limit": 50})
                called = await client.call_tool("call_tool", {"name": "notes__say", "arguments": {"text": "searched"}})
                denied = await self.refusal(client.call_tool("call_tool", {"name": "notes__write_note", "arguments": {"name": "a", "text": "t"}}))
            return own, said, toolset, outside, listed, found, called, denied

        own, said, toolset, outside, listed, found, called, denied = self.run_async(body, timeout=3 * WAIT)
        self.assertTrue(any(r.get("method") == "server/discover" for r in self.gateway.audit_records()), self.diagnostics())
        self.assertEqual(sorted(own), ["add", "say"])
        self.assertEqual(said.content[0].text, "modern")
        self.assertEqual(sorted(toolset), ["notes__add", "notes__say", "paged__echo"], self.diagnostics())
        self.assertIn("not permitted", outside)
        self.assertEqual(listed, ["find_tools", "call_tool"])
        self.assertEqual(sorted(tool["name"] for tool in found.structured_content["tools"]),
                         ["notes__add", "notes__say", "paged__add", "paged__echo"], self.diagnostics())
        self.assertEqual(called.content[0].text, "searched")
        self.assertIn("Tool write_note is not permitted for eve on acme/notes", denied)

    def test_an_empty_view_says_why_in_discover(self):
        async def body():
            async with self.connect(EMPTY, "/orgs/%s/mcp" % ORG) as client:
                return client.instructions, await self.names(client)

        instructions, names = self.run_async(body)
        self.assertEqual(names, [])
        self.assertTrue((instructions or "").startswith("No tools here for cat"), instructions)

    def test_an_upstream_that_recovers_is_announced_on_the_listen_stream(self):
        async def body():
            async with self.connect(ADMIN, "/orgs/%s/mcp" % ORG) as client:
                before = await self.names(client)
                async with client.listen(tools_list_changed=True) as sub:
                    with open(self.flag, "w"):
                        pass
                    with anyio.fail_after(WAIT):
                        event = await sub.__anext__()
                after = await self.names(client)
                echoed = await client.call_tool("flaky__echo", {"text": "back"})
                return before, type(event).__name__, after, echoed

        before, event, after, echoed = self.run_async(body, timeout=3 * WAIT)
        self.assertFalse([name for name in before if name.startswith("flaky__")], before)
        self.assertEqual(event, "ToolsListChanged")
        self.assertIn("flaky__echo", after, self.diagnostics())
        self.assertEqual(echoed.content[0].text, "back")


if __name__ == "__main__":
    unittest.main()
