"""End-to-end: tools that fit every client, with the official MCP Python SDK 1.x (`mcp<2`) over
Streamable HTTP: a server's overrides (renamed, described anew and hidden tools), an org's toolset,
search mode (find_tools and call_tool), an empty view that says why, and an upstream that fails and
then recovers (the session hears tools/list_changed and its tools come back).

Run with the 1.x venv:  cd tests/e2e && ../../.venv-mcp1/bin/python test_tool_views_sdk1.py -v
"""
import contextlib
import datetime
import json
import os
import sys
import tempfile
import unittest

import mcp.types as types
from mcp import ClientSession
from mcp.shared.exceptions import McpError

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from test_mcp_sdk1 import open_streamable_http  # noqa: E402
from authz_fixtures import Notifications  # noqa: E402
from mcp_fixtures import ADMIN, CALLER, ORG, WAIT, GatewayTestCase  # noqa: E402
from tool_view_fixtures import EMPTY, tool_views_policy  # noqa: E402

def notification_of(message):
    if not isinstance(message, types.ServerNotification):
        return None
    return message.root.method, {}


class ToolViews(GatewayTestCase):
    def setUp(self):
        folder = tempfile.mkdtemp(prefix="orch-e2e-views-")
        self.addCleanup(lambda: __import__("shutil").rmtree(folder, ignore_errors=True))
        self.flag = os.path.join(folder, "up")
        self.document = tool_views_policy(self.flag)
        super().setUp()

    @contextlib.asynccontextmanager
    async def connect(self, token, path, notifications=None):
        headers = {"Authorization": "Bearer " + token}
        handler = {"message_handler": notifications.handler} if notifications else {}
        async with open_streamable_http(self.gateway.base + path, headers, self.http_client_factory) as (read, write, _):
            async with ClientSession(read, write, read_timeout_seconds=datetime.timedelta(seconds=WAIT), **handler) as session:
                initialized = await session.initialize()
                yield session, initialized

    async def names(self, session):
        names, cursor = [], None
        for _ in range(20):
            page = await session.list_tools(cursor=cursor)
            names += [tool.name for tool in page.tools]
            cursor = page.nextCursor
            if cursor is None:
                return names
        return names

    async def refusal(self, call):
        try:
            result = await call
        except McpError as error:
            return error.error.message
        if result.isError:
            return result.content[0].text
        raise AssertionError("not refused: %r\n%s" % (result, self.diagnostics()))

    def test_overridden_names_on_the_servers_endpoint_and_the_orgs(self):
        async def body():
            async with self.connect(CALLER, "/orgs/%s/servers/notes/mcp" % ORG) as (session, _):
                listed = (await session.list_tools()).tools
                said = await session.call_tool("say", {"text": "renamed"})
                refused = await self.refusal(session.call_tool("echo", {"text": "x"}))
            async with self.connect(CALLER, "/orgs/%s/mcp" % ORG) as (session, _):
                merged = await self.names(session)
                aggregated = await session.call_tool("notes__say", {"text": "through the org"})
            return listed, said, refused, merged, aggregated

        listed, said, refused, merged, aggregated = self.run_async(body, timeout=3 * WAIT)
        self.assertEqual({tool.name: tool.description for tool in listed}, {"say": "Says the text back.", "add": "Add two numbers."},
                         self.diagnostics())
        self.assertEqual(said.content[0].text, "renamed")
        self.assertIn("Tool echo is not permitted for eve on acme/notes", refused)
        self.assertIn("notes__say", merged)
        self.assertNotIn("notes__echo", merged)
        self.assertEqual(aggregated.content[0].text, "through the org")
        # The audit keeps the upstream name.
        calls = [r for r in self.gateway.audit_records() if r.get("method") == "tools/call" and r.get("decision") == "allow"]
        self.assertTrue(calls and all(r["tool"] == "echo" and "(called as say)" in r["reason"] for r in calls), calls)

    def test_a_toolset_and_search_mode_keep_every_decision(self):
        async def body():
            async with self.connect(CALLER, "/orgs/%s/toolsets/basics/mcp" % ORG) as (session, initialized):
                toolset = await self.names(session)
                outside = await self.refusal(session.call_tool("paged__add", {"a": 1, "b": 2}))
                capabilities = initialized.capabilities
            async with self.connect(CALLER, "/orgs/%s/mcp?tools=search" % ORG) as (session, _):
                listed = await self.names(session)
                found = await session.call_tool("find_tools", {"query": "write a note", "limit": 50})
                everything = await session.call_tool("find_tools", {"query": "note echo add write delete now text numbers", "limit": 50})
                called = await session.call_tool("call_tool", {"name": "paged__echo", "arguments": {"text": "searched"}})
                denied = await self.refusal(session.call_tool("call_tool", {"name": "notes__write_note", "arguments": {"name": "a", "text": "t"}}))
            return toolset, outside, capabilities, listed, found, everything, called, denied

        toolset, outside, capabilities, listed, found, everything, called, denied = self.run_async(body, timeout=3 * WAIT)
        self.assertEqual(sorted(toolset), ["notes__add", "notes__say", "paged__echo"], self.diagnostics())
        self.assertIn("Tool paged__add is not permitted for eve on /orgs/acme/toolsets/basics/mcp", outside)
        self.assertIsNone(capabilities.prompts)
        self.assertEqual(listed, ["find_tools", "call_tool"])
        # eve may not write notes: such a tool is never found.
        found_names = [tool["name"] for tool in found.structuredContent["tools"]]
        every_name = [tool["name"] for tool in everything.structuredContent["tools"]]
        self.assertEqual(json.loads(found.content[0].text), found.structuredContent)
        self.assertFalse([name for name in found_names + every_name if "write_note" in name or "delete_note" in name], every_name)
        self.assertEqual(sorted(every_name), ["notes__add", "notes__say", "paged__add", "paged__echo"], self.diagnostics())
        self.assertEqual(called.content[0].text, "searched")
        self.assertIn("Tool write_note is not permitted for eve on acme/notes", denied)
        records = self.gateway.audit_records()
        self.assertTrue(any(r.get("tool") == "echo" and r.get("server") == "paged" and r["decision"] == "allow" for r in records), records)
        self.assertFalse(any(r.get("tool") == "call_tool" for r in records))

    def test_an_empty_view_says_why(self):
        async def body():
            async with self.connect(EMPTY, "/orgs/%s/mcp" % ORG) as (session, initialized):
                return initialized.instructions, await self.names(session)

        instructions, names = self.run_async(body)
        self.assertEqual(names, [])
        self.assertTrue((instructions or "").startswith("No tools here for cat: their roles grant no tool of acme/notes"), instructions)

    def test_an_upstream_that_fails_is_left_out_and_comes_back_with_a_list_change(self):
        notifications = Notifications(notification_of)

        async def body():
            async with self.connect(ADMIN, "/orgs/%s/mcp" % ORG, notifications) as (session, _):
                before = await self.names(session)
                unavailable = await self.refusal(session.call_tool("flaky__echo", {"text": "x"}))
                with open(self.flag, "w"):
                    pass
                await notifications.wait_for_method("notifications/tools/list_changed", timeout=WAIT)
                after = await self.names(session)
                echoed = await session.call_tool("flaky__echo", {"text": "back"})
                return before, unavailable, after, echoed

        before, unavailable, after, echoed = self.run_async(body, timeout=3 * WAIT)
        self.assertIn("notes__say", before)
        self.assertFalse([name for name in before if name.startswith("flaky__")], before)
        self.assertIn("the server acme/flaky is unavailable", unavailable)
        self.assertIn("flaky__echo", after, self.diagnostics())
        self.assertEqual(echoed.content[0].text, "back")
        self.assertIn("acme/flaky answers again", self.gateway.log_text())


if __name__ == "__main__":
    unittest.main()
