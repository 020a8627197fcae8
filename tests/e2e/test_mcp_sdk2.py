"""End-to-end: the official MCP Python SDK 2.x (`mcp>=2`) `Client` as a client of `orch serve`.

Run with the 2.x venv:  .venv-mcp2/bin/python tests/e2e/test_mcp_sdk2.py
Each test starts its own gateway (temp folder, orch.json, `orch serve` on a free port). The
`Client` runs in its default mode, "auto": it probes `server/discover` (protocol 2026-07-28). The
per-server Streamable HTTP endpoint answers it, and the Client then speaks 2026-07-28 (no session;
the gateway holds an upstream session per key); over legacy SSE the probe is refused and the
Client falls back to `initialize`. The *LegacyMode classes run the same cases with mode "legacy". Streamable HTTP is the Client's URL transport (given an httpx2 client
for the Authorization header); legacy SSE is `mcp.client.sse.sse_client`, passed as its Transport.

StdioUpstream* classes: acme/notes and acme/paged are `orch sample-server` over stdio.
RemoteUpstream* classes: acme/remote is a FastMCP server over Streamable HTTP (remote_upstream.py,
run by the 1.x venv, which has FastMCP) that requires `X-Upstream-Key`, configured in orch.json as
`${env:UPSTREAM_KEY}`.
"""
import contextlib
import json
import importlib.metadata
import os
import secrets
import signal
import sys
import tempfile
import time
import unittest

import anyio
import httpx2
import mcp.types as types
from mcp import Client
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mcp_fixtures import (  # noqa: E402
    ADMIN, ALL_SAMPLE_TOOLS, CALLER, ORG, OUTSIDER, PROMPT, WAIT, WRONG, GatewayTestCase, RemoteUpstream, exception_chain,
    policy, sha256)

SUPPORTED_VERSIONS = {"2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"}


class Connection:
    def __init__(self, client, session_id, audited_session=None):
        self.client = client
        self.session_id = session_id
        # The session the audit log names for this connection's requests: the client's own, or
        # for a 2026-07-28 client (which has none) the upstream session the gateway holds for it.
        self.audited_session = audited_session or session_id


class SDK2Case(GatewayTestCase):
    transport = None  # "streamable-http" or "sse", set by the concrete classes
    mode = "auto"  # the Client's: "auto" negotiates 2026-07-28 on the per-server Streamable HTTP endpoints

    @property
    def modern(self):
        """Whether the Client speaks 2026-07-28: auto mode on the per-server Streamable HTTP
        endpoint, which serves that era (legacy SSE has no such era)."""
        return self.transport == "streamable-http" and self.mode != "legacy"

    @property
    def expected_versions(self):
        return {"2026-07-28"} if self.modern else SUPPORTED_VERSIONS

    def held_session(self):
        """The upstream session the gateway holds for 2026-07-28 requests, as the audit record of
        the newest server/discover names it."""
        probes = self.audit_where(method="server/discover", decision="allow")
        return probes[-1]["session"] if probes else None

    @contextlib.asynccontextmanager
    async def connect(self, token, server="notes", org=ORG, message_handler=None):
        """A connected `Client` (mode "auto") to ORG/SERVER through the gateway, as `token`."""
        headers = {"Authorization": "Bearer " + token}
        if self.transport == "streamable-http":
            timeout = httpx2.Timeout(WAIT, read=WAIT * 10)
            async with self.http_client_factory(headers=headers, timeout=timeout) as http:
                transport = streamable_http_client(self.gateway.url(server, "mcp", org), http_client=http)
                async with Client(transport, read_timeout_seconds=WAIT, message_handler=message_handler, mode=self.mode) as client:
                    sessions = [e["session"] for e in self.http.entries if e["session"]]
                    if self.modern:
                        yield Connection(client, None, self.held_session())
                    else:
                        yield Connection(client, sessions[-1] if sessions else None)
        else:
            created = []
            transport = sse_client(self.gateway.url(server, "sse", org), headers=headers, timeout=WAIT,
                                   sse_read_timeout=WAIT * 10, httpx_client_factory=self.http_client_factory,
                                   on_session_created=created.append)
            async with Client(transport, read_timeout_seconds=WAIT, message_handler=message_handler, mode=self.mode) as client:
                yield Connection(client, created[0] if created else None)

    async def all_pages(self, client):
        pages, cursor = [], None
        while True:
            result = await client.list_tools(cursor=cursor)
            pages.append(([t.name for t in result.tools], result.next_cursor))
            cursor = result.next_cursor
            if cursor is None or len(pages) > 10:
                return pages

    def connect_fails(self, token, server="notes", org=ORG):
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

    def connect_request(self):
        """The HTTP method of the request that opens a session on this transport."""
        return "POST" if self.transport == "streamable-http" else "GET"

    def opening_entries(self):
        """HTTP log entries of session-opening requests: the server/discover probe for a
        2026-07-28 client, initialize otherwise."""
        if self.transport == "sse":
            return [e for e in self.http.entries if e["method"] == "GET"]
        opening = "server/discover" if self.modern else "initialize"
        return [e for e in self.http.entries
                if e["method"] == "POST" and (e.get("request") or {}).get("method") == opening]


class StdioUpstreamCase(SDK2Case):
    # --- tests -------------------------------------------------------------------------------

    def test_auto_mode_falls_back_to_initialize_and_opens_a_gateway_session(self):
        if self.modern:
            return self.check_auto_mode_speaks_2026_07_28_with_no_session()
        async def body():
            async with self.connect(CALLER) as c:
                self.assertIn(c.client.protocol_version, SUPPORTED_VERSIONS)
                self.assertEqual(c.client.server_info.name, "orch-sample-server")
                self.assertIsNotNone(c.client.server_capabilities.tools)
                self.assert_session_id(c.session_id)
                return c.session_id

        session_id = self.run_async(body)
        # The server/discover probe (in auto mode) went first, was answered with an error (no
        # session), and exactly one session was opened, by initialize.
        probes = [e for e in self.http.entries if (e.get("request") or {}).get("method") == "server/discover"]
        if self.mode == "auto":
            self.assertTrue(probes, "the 2.x Client in auto mode sends server/discover first\n" + self.diagnostics())
        else:
            self.assertFalse(probes, "the 2.x Client in legacy mode sends no server/discover\n" + self.diagnostics())
        if probes and self.transport == "streamable-http":
            probe = probes[0]
            self.assertIsNone(probe["session"], "a server/discover probe must not open a session")
            self.assertTrue(probe["status"] >= 400 or "error" in (probe.get("body") or {}),
                            "the probe must be refused so the client falls back\n" + self.diagnostics())
        opened = "initialize" if self.transport == "streamable-http" else "GET sse"
        self.assertEqual(len(self.audit_where(method=opened, decision="allow")), 1, self.gateway.audit_text())
        self.assert_audited(user="eve", key="laptop", org=ORG, server="notes", session=session_id,
                            method=opened, decision="allow", status=200)

    def check_auto_mode_speaks_2026_07_28_with_no_session(self):
        async def body():
            async with self.connect(CALLER) as c:
                self.assertEqual(c.client.protocol_version, "2026-07-28")
                self.assertEqual(c.client.server_info.name, "orch-sample-server")
                self.assertIsNotNone(c.client.server_capabilities.tools)
                result = await c.client.call_tool("echo", {"text": "modern"})
                self.assertEqual(result.content[0].text, "modern")
                return c.audited_session

        held = self.run_async(body)
        # The probe was answered with the gateway's discover result; no response carried a session.
        probes = [e for e in self.http.entries if (e.get("request") or {}).get("method") == "server/discover"]
        self.assertEqual([(p["status"], p["body"]["result"]["supportedVersions"][0]) for p in probes], [(200, "2026-07-28")],
                         self.diagnostics())
        self.assertFalse([e for e in self.http.entries if e["session"] or e["sessionSent"]], self.diagnostics())
        self.assertFalse([e for e in self.http.entries if (e.get("request") or {}).get("method") == "initialize"])
        # The gateway initialized its own upstream session once, for eve's key, and forwarded on it.
        self.assert_session_id(held)
        opened = self.audit_where(method="initialize", decision="allow")
        self.assertEqual([(r["user"], r["session"]) for r in opened], [("eve", held)], self.gateway.audit_text())
        self.assertTrue(opened[0]["reason"].endswith("; held for 2026-07-28 requests"), opened)
        self.assert_audited(user="eve", key="laptop", server="notes", session=held, method="tools/call", tool="echo",
                            decision="allow", status=200)

    def test_tools_list_is_filtered_to_the_callers_role(self):
        async def body():
            async with self.connect(CALLER) as c:
                result = await c.client.list_tools()
                self.assertEqual(sorted(t.name for t in result.tools), ["add", "echo"])
                self.assertIsNone(result.next_cursor)
                echo = next(t for t in result.tools if t.name == "echo")
                self.assertEqual(echo.input_schema["required"], ["text"])
            async with self.connect(ADMIN) as c:
                result = await c.client.list_tools()
                self.assertEqual(sorted(t.name for t in result.tools), ALL_SAMPLE_TOOLS)

        self.run_async(body)

    def test_tools_list_pages_through_the_gateway(self):
        # acme/paged is `orch sample-server --page-size 2`: 5 tools on 3 pages, each filtered.
        async def body():
            async with self.connect(ADMIN, server="paged") as c:
                self.assertEqual(await self.all_pages(c.client),
                                 [(["add", "delete_note"], "2"), (["echo", "now"], "4"), (["write_note"], None)])
            async with self.connect(CALLER, server="paged") as c:
                self.assertEqual(await self.all_pages(c.client), [(["add"], "2"), (["echo"], "4"), ([], None)])

        self.run_async(body)

    def test_allowed_tool_call_returns_the_upstream_result(self):
        async def body():
            async with self.connect(CALLER) as c:
                result = await c.client.call_tool("echo", {"text": "hello through orch (sdk 2)"})
                self.assertFalse(result.is_error)
                self.assertEqual([(x.type, x.text) for x in result.content], [("text", "hello through orch (sdk 2)")])
                result = await c.client.call_tool("add", {"a": 40, "b": 2})
                self.assertEqual(result.content[0].text, "42")
                return c.audited_session

        session_id = self.run_async(body)
        for tool in ("echo", "add"):
            self.assert_audited(user="eve", key="laptop", org=ORG, server="notes", session=session_id,
                                method="tools/call", tool=tool, decision="allow", status=200)
        self.assert_no_secret_in_audit(CALLER)

    def test_denied_tool_call_is_answered_by_the_gateway_and_audited(self):
        async def body():
            async with self.connect(CALLER) as c:
                with self.assertRaises(MCPError) as caught:
                    await c.client.call_tool("write_note", {"name": "n1", "text": "should never be written"})
                self.assertEqual(caught.exception.code, -32602)
                self.assertIn("write_note", caught.exception.message)
                self.assertIn("not permitted", caught.exception.message)
                self.assert_audited(user="eve", key="laptop", org=ORG, server="notes", session=c.audited_session,
                                    method="tools/call", tool="write_note", decision="deny")
                # Never forwarded: the note index is still empty; and the session goes on.
                index = await c.client.read_resource("notes://index")
                self.assertEqual(index.contents[0].text, "")
                result = await c.client.call_tool("echo", {"text": "still here"})
                self.assertEqual(result.content[0].text, "still here")

        self.run_async(body)
        self.assertFalse(self.audit_where(tool="write_note", decision="allow"))

    def test_a_server_the_user_may_not_reach_answers_404(self):
        error = self.connect_fails(OUTSIDER)
        opening = self.opening_entries()
        self.assertEqual([e["status"] for e in opening], [404], self.diagnostics())
        self.assertEqual(opening[0]["body"]["error"]["code"], "not_found")
        if self.transport == "sse":
            self.assertTrue(any(isinstance(e, httpx2.HTTPStatusError) and e.response.status_code == 404
                                for e in exception_chain(error)), self.diagnostics())
        else:
            self.assertTrue(any(isinstance(e, MCPError) for e in exception_chain(error)), self.diagnostics())
        self.assert_audited(user="oli", org=ORG, server="notes", decision="deny", status=404)

        # The same answer as for a server that does not exist at all.
        missing = opening[0]["body"]["error"]["message"].replace("acme/notes", "acme/nope")
        self.http.entries.clear()
        self.connect_fails(OUTSIDER, server="nope")
        opening = self.opening_entries()
        self.assertEqual([(e["status"], e["body"]["error"]["message"]) for e in opening], [(404, missing)])

        async def own_server():
            async with self.connect(OUTSIDER, org="globex") as c:
                result = await c.client.call_tool("echo", {"text": "globex"})
                self.assertEqual(result.content[0].text, "globex")

        self.run_async(own_server)

    def test_a_wrong_token_answers_401(self):
        error = self.connect_fails(WRONG)
        self.assertTrue(self.http.entries, self.diagnostics())
        for entry in self.http.entries:  # the probe (if any) and the initialize: all refused
            self.assertEqual(entry["status"], 401, self.diagnostics())
            self.assertEqual(entry["wwwAuthenticate"], 'Bearer realm="orch"')
            self.assertEqual(entry["body"]["error"]["code"], "unauthorized")
        self.assertEqual(self.http.entries[0]["method"], self.connect_request())
        if self.transport == "sse":
            self.assertTrue(any(isinstance(e, httpx2.HTTPStatusError) and e.response.status_code == 401
                                for e in exception_chain(error)), self.diagnostics())
        else:
            self.assertTrue(any(isinstance(e, MCPError) for e in exception_chain(error)), self.diagnostics())
        self.assert_audited(decision="deny", status=401, reason="unknown token")
        self.assert_no_secret_in_audit(WRONG)

    def test_closing_the_client_ends_the_session_and_stops_its_upstream(self):
        # Streamable HTTP: the SDK sends DELETE. Legacy SSE: the client drops the SSE stream,
        # which is the session.
        if self.modern:
            return self.check_closing_a_modern_client_keeps_the_held_session()
        async def body():
            async with self.connect(CALLER) as c:
                await c.client.call_tool("echo", {"text": "x"})
                return c.session_id, self.gateway.server.child_pids()

        session_id, upstream = self.run_async(body)
        closed_at = time.time()
        self.assertEqual(len(upstream), 1, "one upstream process for the one session")
        self.assert_closing_ends_session(session_id, upstream, closed_at, within=PROMPT)

    def check_closing_a_modern_client_keeps_the_held_session(self):
        # 2026-07-28 has no session to end: the gateway's upstream session for the key stays (until
        # it idles out) and serves the key's next client.
        async def once(text):
            async with self.connect(CALLER) as c:
                result = await c.client.call_tool("echo", {"text": text})
                self.assertEqual(result.content[0].text, text)
                return c.audited_session, self.gateway.server.child_pids()

        first, upstream = self.run_async(lambda: once("first"))
        self.assertEqual(len(upstream), 1, "one upstream process for the key")
        second, again = self.run_async(lambda: once("second"))
        self.assertEqual((second, again), (first, upstream), "the next client of the key uses the same upstream session")
        self.assertFalse(self.audit_where(method="session end"), self.gateway.audit_text())

    def test_sigterm_with_an_open_session_stops_the_gateway_and_its_upstream(self):
        async def body():
            outcome = {}
            try:
                async with self.connect(CALLER) as c:
                    await c.client.call_tool("echo", {"text": "before shutdown"})
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


class ServerNotificationCases:
    def test_server_notifications_reach_the_client(self):
        # Handshake era: the server's list_changed comes on the session's stream.
        async def body():
            changed = anyio.Event()

            async def on_message(message):
                if isinstance(message, types.ResourceListChangedNotification):
                    changed.set()

            async with self.connect(ADMIN, message_handler=on_message) as c:
                result = await c.client.call_tool("write_note", {"name": "n1", "text": "hi"})
                self.assertEqual(result.content[0].text, "wrote n1")
                await changed.wait()
                index = await c.client.read_resource("notes://index", cache_mode="bypass")
                self.assertEqual(index.contents[0].text, "n1: hi")

        self.run_async(body)



class ListenNotificationCases:
    def test_server_notifications_reach_a_listen_stream(self):
        # 2026-07-28: the server's list_changed comes on the client's subscriptions/listen stream.
        async def body():
            async with self.connect(ADMIN) as c:
                async with c.client.listen(resources_list_changed=True) as sub:
                    result = await c.client.call_tool("write_note", {"name": "n1", "text": "hi"})
                    self.assertEqual(result.content[0].text, "wrote n1")
                    with anyio.fail_after(PROMPT):
                        event = await sub.__anext__()
                    self.assertEqual(type(event).__name__, "ResourcesListChanged")
                index = await c.client.read_resource("notes://index", cache_mode="bypass")
                self.assertEqual(index.contents[0].text, "n1: hi")

        self.run_async(body)


class StdioUpstreamStreamableHTTP(ListenNotificationCases, StdioUpstreamCase):
    transport = "streamable-http"


class StdioUpstreamStreamableHTTPLegacyMode(ServerNotificationCases, StdioUpstreamCase):
    transport = "streamable-http"
    mode = "legacy"


class StdioUpstreamLegacySSE(ServerNotificationCases, StdioUpstreamCase):
    transport = "sse"


# --- a remote upstream ---------------------------------------------------------------------------

class RemoteUpstreamCase(SDK2Case):
    """acme/remote is {"url": FastMCP's /mcp, "headers": {"X-Upstream-Key": "${env:UPSTREAM_KEY}"}};
    eve's role allows `remote` but denies `remote:secret_*`."""

    def setUp(self):
        self.key = "upstream-key-" + secrets.token_hex(8)
        record_folder = tempfile.mkdtemp(prefix="orch-e2e-remote-")
        self.addCleanup(lambda: __import__("shutil").rmtree(record_folder, ignore_errors=True))
        self.upstream = RemoteUpstream(self.key, os.path.join(record_folder, "requests.jsonl"))
        self.addCleanup(self.upstream.stop)
        remote = {"url": self.upstream.url, "headers": {"X-Upstream-Key": "${env:UPSTREAM_KEY}"}}
        nokey = {"url": self.upstream.url}
        self.document = policy(extra_servers={"remote": remote, "nokey": nokey},
                               extra_allow=["remote", "nokey"], extra_deny=["remote:secret_*"])
        self.env = {"UPSTREAM_KEY": self.key}
        super().setUp()

    def diagnostics(self):
        return "%s\n--- remote upstream records:\n%s" % (
            super().diagnostics(), "\n".join(map(str, self.upstream.records())))

    def test_tools_are_filtered_and_called_through_the_remote_upstream(self):
        async def body():
            async with self.connect(CALLER, server="remote") as c:
                self.assertIn(c.client.protocol_version, self.expected_versions)
                self.assertEqual(c.client.server_info.name, "e2e-remote")
                self.assert_session_id(c.audited_session)
                result = await c.client.list_tools()
                self.assertEqual([t.name for t in result.tools], ["shout"])
                result = await c.client.call_tool("shout", {"text": "hello remote"})
                self.assertFalse(result.is_error)
                self.assertEqual(result.content[0].text, "HELLO REMOTE!")
                with self.assertRaises(MCPError) as caught:
                    await c.client.call_tool("secret_admin", {})
                self.assertEqual(caught.exception.code, -32602)
                self.assertIn("secret_admin", caught.exception.message)
                self.assertIn("not permitted", caught.exception.message)
                self.assert_audited(user="eve", org=ORG, server="remote", session=c.audited_session,
                                    method="tools/call", tool="secret_admin", decision="deny")
                self.assert_audited(user="eve", org=ORG, server="remote", session=c.audited_session,
                                    method="tools/call", tool="shout", decision="allow")
            async with self.connect(ADMIN, server="remote") as c:
                result = await c.client.list_tools()
                self.assertEqual(sorted(t.name for t in result.tools), ["secret_admin", "shout"])

        self.run_async(body)

        records = self.upstream.records()
        requests = [r for r in records if r["kind"] == "request"]
        self.assertTrue(requests, "the remote upstream saw no request\n" + self.diagnostics())
        for request in requests:
            sent = [value for name, value in request["headers"] if name.lower() == "x-upstream-key"]
            self.assertEqual(sent, [self.key], "every upstream request carries the configured header")
            for name, value in request["headers"]:
                for token in (CALLER, ADMIN):
                    self.assertNotIn(token, value, "the caller's token went upstream in %s" % name)
                    self.assertNotIn(sha256(token), value)
        self.assertEqual([(r["name"], r["arguments"]) for r in records if r["kind"] == "tool"],
                         [("shout", {"text": "hello remote"})], "secret_admin never reaches the upstream")
        self.assertNotIn(self.key, self.gateway.audit_text())
        self.assertNotIn(self.key, self.gateway.log_text())

    def test_a_remote_upstream_that_refuses_the_gateway_fails_the_connection(self):
        # acme/nokey points at the same server without the header: it answers the gateway 401.
        error = self.connect_fails(CALLER, server="nokey")
        if self.transport == "sse":
            # Legacy SSE: the initialize reply comes on the stream, as a JSON-RPC error.
            messages = [e.message for e in exception_chain(error) if isinstance(e, MCPError)]
            self.assertTrue(any("acme/nokey" in m and "unavailable" in m for m in messages),
                            "the SDK's error should say acme/nokey is unavailable, got %r\n%s" % (messages, self.diagnostics()))
        else:
            # Streamable HTTP: the gateway answers 502 naming the server (the SDK itself reports
            # only a generic error for a refused initialize).
            self.assertTrue(any(r["status"] == 502 and "acme/nokey" in json.dumps(r["body"]) and "unavailable" in json.dumps(r["body"])
                                for r in self.http.entries),
                            "the gateway should answer 502 naming acme/nokey\n" + self.diagnostics())
        refused = [r for r in self.upstream.records() if r["kind"] == "request" and not r["accepted"]]
        self.assertTrue(refused, "the gateway never tried the upstream\n" + self.diagnostics())
        self.assertFalse([r for r in self.upstream.records() if r["kind"] == "request" and r["accepted"]])
        self.wait_until(lambda: self.audit_where(user="eve", server="nokey", method="session end"),
                        "the audit record of the failed session ending")


class RemoteUpstreamStreamableHTTP(RemoteUpstreamCase):
    transport = "streamable-http"

    def test_initialize_through_a_refusing_remote_upstream_answers_502_without_a_session(self):
        # An upstream that cannot be reached answers initialize with 502 and a JSON-RPC error whose
        # data.code is the gateway's `upstream_unavailable`. (Legacy SSE opens its session at
        # GET /sse, before any message, so this is Streamable HTTP's initialize only.)
        self.connect_fails(CALLER, server="nokey")
        opening = self.opening_entries()
        self.assertEqual([(e["status"], e["session"]) for e in opening], [(502, None)],
                         "initialize should be refused with 502 and no Mcp-Session-Id\n" + self.diagnostics())
        self.assertEqual(opening[0]["body"]["error"]["code"], -32603)
        self.assertEqual(opening[0]["body"]["error"]["data"]["code"], "upstream_unavailable")


class RemoteUpstreamStreamableHTTPLegacyMode(RemoteUpstreamStreamableHTTP):
    mode = "legacy"


class RemoteUpstreamLegacySSE(RemoteUpstreamCase):
    transport = "sse"


del SDK2Case, StdioUpstreamCase, RemoteUpstreamCase  # only the concrete transports run

if __name__ == "__main__":
    print("mcp %s" % importlib.metadata.version("mcp"), file=sys.stderr)
    unittest.main()
