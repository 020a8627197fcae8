"""End-to-end: the official MCP Python SDK 1.x (`mcp<2`) as a client of `orch serve`.

Run with the 1.x venv:  .venv-mcp1/bin/python tests/e2e/test_mcp_sdk1.py
Each test starts its own gateway (temp folder, orch.json, `orch serve` on a free port) whose
servers are `orch sample-server` over stdio, and drives it over Streamable HTTP and legacy SSE.
"""
import contextlib
import datetime
import importlib.metadata
import os
import signal
import sys
import time
import unittest

import anyio
import httpx
import mcp.types as types
from mcp import ClientSession
from mcp.client import streamable_http
from mcp.client.sse import sse_client
from mcp.shared.exceptions import McpError

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mcp_fixtures import (  # noqa: E402
    ADMIN, ALL_SAMPLE_TOOLS, CALLER, ORG, OUTSIDER, PROMPT, WAIT, WRONG, GatewayTestCase, exception_chain)


@contextlib.asynccontextmanager
async def open_streamable_http(url, headers, http_client_factory):
    """(read, write, get_session_id) of 1.x's Streamable HTTP client transport: the newer
    `streamable_http_client` takes an httpx client, the older `streamablehttp_client` a factory."""
    if hasattr(streamable_http, "streamable_http_client"):
        async with http_client_factory(headers=headers, timeout=httpx.Timeout(WAIT, read=WAIT * 10)) as http:
            async with streamable_http.streamable_http_client(url, http_client=http) as streams:
                yield streams
    else:
        async with streamable_http.streamablehttp_client(
                url, headers=headers, timeout=WAIT, sse_read_timeout=WAIT * 10,
                httpx_client_factory=http_client_factory) as streams:
            yield streams


SUPPORTED_VERSIONS = {"2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"}


class Connection:
    def __init__(self, session, initialized, session_id):
        self.session = session
        self.initialized = initialized
        self.session_id = session_id


class SDK1Case(GatewayTestCase):
    transport = None  # "streamable-http" or "sse", set by the concrete classes below

    @contextlib.asynccontextmanager
    async def connect(self, token, server="notes", org=ORG, message_handler=None):
        """An initialized ClientSession to ORG/SERVER through the gateway, as `token`."""
        headers = {"Authorization": "Bearer " + token}
        read_timeout = datetime.timedelta(seconds=WAIT)
        if self.transport == "streamable-http":
            url = self.gateway.url(server, "mcp", org)
            async with open_streamable_http(url, headers, self.http_client_factory) as (read, write, get_session_id):
                async with ClientSession(read, write, read_timeout_seconds=read_timeout,
                                         message_handler=message_handler) as session:
                    initialized = await session.initialize()
                    yield Connection(session, initialized, get_session_id())
        else:
            url = self.gateway.url(server, "sse", org)
            created = []
            async with sse_client(url, headers=headers, timeout=WAIT, sse_read_timeout=WAIT * 10,
                                  httpx_client_factory=self.http_client_factory,
                                  on_session_created=created.append) as (read, write):
                async with ClientSession(read, write, read_timeout_seconds=read_timeout,
                                         message_handler=message_handler) as session:
                    initialized = await session.initialize()
                    yield Connection(session, initialized, created[0] if created else None)

    async def all_pages(self, session):
        """[(tool names, nextCursor)] for every tools/list page."""
        pages, cursor = [], None
        while True:
            result = await session.list_tools(params=types.PaginatedRequestParams(cursor=cursor))
            pages.append(([t.name for t in result.tools], result.nextCursor))
            cursor = result.nextCursor
            if cursor is None or len(pages) > 10:
                return pages

    def connect_fails(self, token, server="notes", org=ORG):
        """Connect as `token`, which must fail: the SDK's exception."""
        async def attempt():
            try:
                async with self.connect(token, server, org):
                    pass
            except Exception as error:  # noqa: BLE001 - whatever the SDK raises is the point
                return error
            return None

        error = self.run_async(attempt)
        self.assertIsNotNone(error, "connecting as %s to %s/%s should have failed\n%s"
                             % (token[:20], org, server, self.diagnostics()))
        return error

    # --- tests -------------------------------------------------------------------------------

    def test_initialize_opens_a_gateway_session(self):
        async def body():
            async with self.connect(CALLER) as c:
                self.assertIn(c.initialized.protocolVersion, SUPPORTED_VERSIONS)
                self.assertEqual(c.initialized.serverInfo.name, "orch-sample-server")
                self.assertIsNotNone(c.initialized.capabilities.tools)
                self.assert_session_id(c.session_id)
                await c.session.send_ping()
                return c.session_id

        session_id = self.run_async(body)
        opened = "initialize" if self.transport == "streamable-http" else "GET sse"
        self.assert_audited(user="eve", key="laptop", org=ORG, server="notes", session=session_id,
                            method=opened, decision="allow", status=200)

    def test_tools_list_is_filtered_to_the_callers_role(self):
        async def body():
            async with self.connect(CALLER) as c:
                result = await c.session.list_tools()
                self.assertEqual(sorted(t.name for t in result.tools), ["add", "echo"])
                self.assertIsNone(result.nextCursor)
                echo = next(t for t in result.tools if t.name == "echo")
                self.assertEqual(echo.inputSchema["required"], ["text"])
            async with self.connect(ADMIN) as c:
                result = await c.session.list_tools()
                self.assertEqual(sorted(t.name for t in result.tools), ALL_SAMPLE_TOOLS)

        self.run_async(body)

    def test_tools_list_pages_through_the_gateway(self):
        # acme/paged is `orch sample-server --page-size 2`: 5 tools on 3 pages, each filtered.
        async def body():
            async with self.connect(ADMIN, server="paged") as c:
                self.assertEqual(await self.all_pages(c.session),
                                 [(["add", "delete_note"], "2"), (["echo", "now"], "4"), (["write_note"], None)])
            async with self.connect(CALLER, server="paged") as c:
                self.assertEqual(await self.all_pages(c.session), [(["add"], "2"), (["echo"], "4"), ([], None)])

        self.run_async(body)

    def test_allowed_tool_call_returns_the_upstream_result(self):
        async def body():
            async with self.connect(CALLER) as c:
                result = await c.session.call_tool("echo", {"text": "hello through orch (sdk 1)"})
                self.assertFalse(result.isError)
                self.assertEqual([(x.type, x.text) for x in result.content], [("text", "hello through orch (sdk 1)")])
                result = await c.session.call_tool("add", {"a": 2, "b": 3})
                self.assertEqual(result.content[0].text, "5")
                return c.session_id

        session_id = self.run_async(body)
        for tool in ("echo", "add"):
            self.assert_audited(user="eve", key="laptop", org=ORG, server="notes", session=session_id,
                                method="tools/call", tool=tool, decision="allow", status=200)
        self.assert_no_secret_in_audit(CALLER)

    def test_denied_tool_call_is_answered_by_the_gateway_and_audited(self):
        async def body():
            async with self.connect(CALLER) as c:
                with self.assertRaises(McpError) as caught:
                    await c.session.call_tool("write_note", {"name": "n1", "text": "should never be written"})
                error = caught.exception.error
                self.assertEqual(error.code, -32602)
                self.assertIn("write_note", error.message)
                self.assertIn("not permitted", error.message)
                # Audited before the response was returned.
                self.assert_audited(user="eve", key="laptop", org=ORG, server="notes", session=c.session_id,
                                    method="tools/call", tool="write_note", decision="deny")
                # It never reached the upstream: the note index is still empty ...
                index = await c.session.read_resource("notes://index")
                self.assertEqual(index.contents[0].text, "")
                # ... and the session goes on.
                result = await c.session.call_tool("echo", {"text": "still here"})
                self.assertEqual(result.content[0].text, "still here")

        self.run_async(body)
        self.assertFalse(self.audit_where(tool="write_note", decision="allow"))

    def test_server_notifications_reach_the_client(self):
        # write_note makes the sample server send notifications/resources/list_changed.
        async def body():
            changed = anyio.Event()

            async def on_message(message):
                if isinstance(message, types.ServerNotification) and \
                        isinstance(message.root, types.ResourceListChangedNotification):
                    changed.set()

            async with self.connect(ADMIN, message_handler=on_message) as c:
                result = await c.session.call_tool("write_note", {"name": "n1", "text": "hi"})
                self.assertEqual(result.content[0].text, "wrote n1")
                await changed.wait()
                index = await c.session.read_resource("notes://index")
                self.assertEqual(index.contents[0].text, "n1: hi")

        self.run_async(body)

    def test_a_server_the_user_may_not_reach_answers_404(self):
        error = self.connect_fails(OUTSIDER)
        first = self.http.entries[0]
        self.assertEqual((first["method"], first["status"]),
                         ("POST" if self.transport == "streamable-http" else "GET", 404), self.diagnostics())
        self.assertEqual(first["body"]["error"]["code"], "not_found")
        if self.transport == "sse":
            self.assertTrue(any(isinstance(e, httpx.HTTPStatusError) and e.response.status_code == 404
                                for e in exception_chain(error)), self.diagnostics())
        else:
            self.assertTrue(any(isinstance(e, McpError) for e in exception_chain(error)), self.diagnostics())
        self.assert_audited(user="oli", org=ORG, server="notes", decision="deny", status=404)

        # The same answer as for a server that does not exist at all.
        missing = self.http.entries[0]["body"]["error"]["message"].replace("acme/notes", "acme/nope")
        self.http.entries.clear()
        self.connect_fails(OUTSIDER, server="nope")
        self.assertEqual((self.http.entries[0]["status"], self.http.entries[0]["body"]["error"]["message"]),
                         (404, missing))

        # oli's key itself is good: his own org's server answers.
        async def own_server():
            async with self.connect(OUTSIDER, org="globex") as c:
                result = await c.session.call_tool("echo", {"text": "globex"})
                self.assertEqual(result.content[0].text, "globex")

        self.run_async(own_server)

    def test_closing_the_client_ends_the_session_and_stops_its_upstream(self):
        # Streamable HTTP: the SDK sends DELETE. Legacy SSE: the client drops the SSE stream,
        # which is the session.
        async def body():
            async with self.connect(CALLER) as c:
                await c.session.call_tool("echo", {"text": "x"})
                return c.session_id, self.gateway.server.child_pids()

        session_id, upstream = self.run_async(body)
        closed_at = time.time()
        self.assertEqual(len(upstream), 1, "one upstream process for the one session")
        self.assert_closing_ends_session(session_id, upstream, closed_at, within=PROMPT)

    def test_sigterm_with_an_open_session_stops_the_gateway_and_its_upstream(self):
        async def body():
            outcome = {}
            try:
                async with self.connect(CALLER) as c:
                    await c.session.call_tool("echo", {"text": "before shutdown"})
                    outcome["children"] = self.gateway.server.child_pids()
                    self.gateway.server.signal(signal.SIGTERM)
                    outcome["exit"] = await anyio.to_thread.run_sync(self.gateway.server.wait_for_exit, WAIT)
            except Exception as error:  # noqa: BLE001
                if "exit" not in outcome:
                    raise
                outcome["client error after the gateway exited"] = error  # expected: its server is gone
            return outcome

        outcome = self.run_async(body, timeout=2 * WAIT)
        status, seconds = outcome["exit"]
        self.assertEqual(status, 0, "orch serve did not exit within %d s of SIGTERM while an SDK %s session "
                         "was open (exit status %r)\n%s" % (WAIT, self.transport, status, self.diagnostics()))
        self.assertTrue(outcome["children"], "no upstream process while the session was open")
        self.assert_processes_end(outcome["children"])

    def test_a_wrong_token_answers_401(self):
        error = self.connect_fails(WRONG)
        self.assertEqual(self.http.statuses()[:1], [("POST" if self.transport == "streamable-http" else "GET", 401)],
                         self.diagnostics())
        first = self.http.entries[0]
        self.assertEqual(first["wwwAuthenticate"], 'Bearer realm="orch"')
        self.assertEqual(first["body"]["error"]["code"], "unauthorized")
        self.assertTrue(any(isinstance(e, httpx.HTTPStatusError) and e.response.status_code == 401
                            for e in exception_chain(error)), self.diagnostics())
        self.assert_audited(decision="deny", status=401, reason="unknown token")
        self.assert_no_secret_in_audit(WRONG)


class StreamableHTTP(SDK1Case):
    transport = "streamable-http"


class LegacySSE(SDK1Case):
    transport = "sse"


del SDK1Case  # only the concrete transports run

if __name__ == "__main__":
    print("mcp %s" % importlib.metadata.version("mcp"), file=sys.stderr)
    unittest.main()
