"""End-to-end: authorization over every MCP method, with the official MCP Python SDK 2.x
(`mcp>=2`) `Client` as the client, over Streamable HTTP (mode "auto", which speaks 2026-07-28 with
the per-server endpoint, and mode "legacy") and legacy SSE (which falls back to initialize).
Resource updates come on the session's stream in the handshake era and on subscriptions/listen in
2026-07-28.

Run with the 2.x venv:  .venv-mcp2/bin/python tests/e2e/test_authz_sdk2.py
Each test starts its own gateway on authz_fixtures.authz_policy() (see that module for who may do
what). The same contract as test_authz_sdk1.py, through the 2.x API: each decided method allowed
and refused, lists filtered on every page, a scoped key, unknown methods and requests sent as
notifications, filtered notifications/resources/updated, a reload narrowing a live session, and a
key expiring mid-session. Lists and reads bypass the Client's response cache, so every answer is
the gateway's.
"""
import contextlib
import importlib.metadata
import os
import sys
import unittest
import warnings

import anyio
import httpx2
import mcp.types as types
from mcp import Client
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPDeprecationWarning, MCPError

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mcp_fixtures import PROMPT, WAIT  # noqa: E402
from authz_fixtures import (  # noqa: E402
    ADMIN, ALL_TOOLS, EXPIRING, NOTE_TEMPLATE, PAGED_LISTS, READER, READER_ALLOW, SCOPE, SCOPED, TOOLSONLY, WATCHER,
    AuthzTestCase, Notifications, not_permitted)


def notification_of(message):
    """(method, params) of a 2.x server notification; None for a transport exception."""
    method = getattr(message, "method", None)
    if not isinstance(method, str) or not method.startswith("notifications/"):
        return None
    params = getattr(message, "params", None)
    return method, params.model_dump(mode="json", by_alias=True, exclude_none=True) if params is not None else {}


class Connection:
    def __init__(self, client, session_id, notifications, audited_session=None):
        self.client = client
        self.session_id = session_id
        self.notifications = notifications
        # The session the audit log names for this connection's requests: the client's own, or
        # for a 2026-07-28 client (which has none) the upstream session the gateway holds for it.
        self.audited_session = audited_session or session_id


def names(items, key="name"):
    return [str(getattr(item, key)) for item in items]


class SDK2AuthzCase(AuthzTestCase):
    transport = None  # "streamable-http" or "sse", set by the concrete classes below
    mode = "auto"  # the Client's: "auto" negotiates 2026-07-28 on the per-server Streamable HTTP endpoints

    @property
    def modern(self):
        return self.transport == "streamable-http" and self.mode != "legacy"

    def held_session(self):
        """The upstream session the gateway holds for a 2026-07-28 client, as the audit record of
        the newest server/discover names it."""
        probes = self.audit_where(method="server/discover", decision="allow")
        return probes[-1]["session"] if probes else None

    def setUp(self):
        # ping and resources/(un)subscribe are deprecated in 2.x (removed in protocol 2026-07-28);
        # the gateway and its servers speak the versions that have them. (Set here: unittest
        # resets the warning filters around each test.)
        warnings.filterwarnings("ignore", category=MCPDeprecationWarning)
        super().setUp()

    @contextlib.asynccontextmanager
    async def connect(self, token, server="notes"):
        """A connected `Client` to acme/SERVER as `token`, recording its notifications."""
        headers = {"Authorization": "Bearer " + token}
        notifications = Notifications(notification_of)
        if self.transport == "streamable-http":
            timeout = httpx2.Timeout(WAIT, read=WAIT * 10)
            async with self.http_client_factory(headers=headers, timeout=timeout) as http:
                transport = streamable_http_client(self.gateway.url(server, "mcp"), http_client=http)
                async with Client(transport, read_timeout_seconds=WAIT, message_handler=notifications.handler, mode=self.mode) as client:
                    if self.modern:
                        yield Connection(client, None, notifications, self.held_session())
                    else:
                        sessions = [e["session"] for e in self.http.entries if e["session"]]
                        yield Connection(client, sessions[-1] if sessions else None, notifications)
        else:
            created = []
            transport = sse_client(self.gateway.url(server, "sse"), headers=headers, timeout=WAIT,
                                   sse_read_timeout=WAIT * 10, httpx_client_factory=self.http_client_factory,
                                   on_session_created=created.append)
            async with Client(transport, read_timeout_seconds=WAIT, message_handler=notifications.handler, mode=self.mode) as client:
                yield Connection(client, created[0] if created else None, notifications)

    async def refused(self, call, what):
        """Awaits `call`, which the gateway must refuse: (code, message) of its JSON-RPC error."""
        try:
            result = await call
        except MCPError as error:
            return error.code, error.message
        raise AssertionError("%s should have been refused, but it returned %r\n%s" % (what, result, self.diagnostics()))

    async def assert_refused(self, call, message, what, code=-32602):
        got = await self.refused(call, what)
        self.assert_refusal(got[0], got[1], code, message, what)

    async def pages(self, list_fn, field, key="name"):
        out, cursor = [], None
        while True:
            result = await list_fn(cursor=cursor, cache_mode="bypass")
            out.append((names(getattr(result, field), key), result.next_cursor))
            cursor = result.next_cursor
            if cursor is None or len(out) > 10:
                return out

    async def every_list(self, c):
        client = c.client
        return {"tools": await self.pages(client.list_tools, "tools"),
                "prompts": await self.pages(client.list_prompts, "prompts"),
                "resources": await self.pages(client.list_resources, "resources", "uri"),
                "templates": await self.pages(client.list_resource_templates, "resource_templates", "uri_template")}

    async def read_text(self, c, uri):
        result = await c.client.read_resource(uri, cache_mode="bypass")
        return [x.text for x in result.contents]

    async def tool_names(self, c):
        return sorted(names((await c.client.list_tools(cache_mode="bypass")).tools))

    # --- each method, allowed and refused ---------------------------------------------------

    def test_tools_call_and_prompts_get_are_decided_per_item(self):
        async def body():
            async with self.connect(READER) as c:
                caps = c.client.server_capabilities
                self.assertEqual((caps.tools.list_changed, caps.prompts.list_changed, caps.resources.list_changed),
                                 (True, True, True), "the gateway marks every list capability listChanged: %r" % caps)
                result = await c.client.call_tool("echo", {"text": "allowed"})
                self.assertEqual([(x.type, x.text) for x in result.content], [("text", "allowed")])
                await self.assert_refused(c.client.call_tool("add", {"a": 1, "b": 2}),
                                          not_permitted("Tool", "add", "eve"), "tools/call add")
                self.assertEqual(await self.tool_names(c), ["echo", "write_note"])
                result = await c.client.get_prompt("summarize", {"topic": "birds"})
                self.assertEqual([m.content.text for m in result.messages], ["Summarize the notes about birds."])
                await self.assert_refused(c.client.get_prompt("draft_note", {"name": "x"}),
                                          not_permitted("Prompt", "draft_note", "eve"), "prompts/get draft_note")
                self.assertEqual(names((await c.client.list_prompts(cache_mode="bypass")).prompts), ["summarize"])
                return c.audited_session

        session = self.run_async(body)
        self.assert_decision_audited("eve", session, "tools/call", "tool", "echo", "allow")
        self.assert_decision_audited("eve", session, "tools/call", "tool", "add", "deny")
        self.assert_decision_audited("eve", session, "prompts/get", "prompt", "summarize", "allow")
        self.assert_decision_audited("eve", session, "prompts/get", "prompt", "draft_note", "deny")

    def test_resources_read_subscribe_and_unsubscribe_are_decided_per_uri(self):
        async def body():
            async with self.connect(READER) as c:
                await c.client.call_tool("write_note", {"name": "a", "text": "note a"})
                await c.client.call_tool("write_note", {"name": "secret1", "text": "classified"})
                self.assertEqual(await self.read_text(c, "notes://note/a"), ["note a"])
                for uri in ("notes://index", "notes://note/secret1"):
                    await self.assert_refused(c.client.read_resource(uri, cache_mode="bypass"),
                                              not_permitted("Resource", uri, "eve"), "resources/read " + uri)
                if not self.modern:  # 2026-07-28 has no resources/subscribe: updates come on subscriptions/listen
                    await c.client.subscribe_resource("notes://note/a")
                    await self.assert_refused(c.client.subscribe_resource("notes://index"),
                                              not_permitted("Resource", "notes://index", "eve"), "resources/subscribe")
                    await c.client.unsubscribe_resource("notes://note/a")
                    await self.assert_refused(c.client.unsubscribe_resource("notes://note/secret1"),
                                              not_permitted("Resource", "notes://note/secret1", "eve"),
                                              "resources/unsubscribe")
                listed = names((await c.client.list_resources(cache_mode="bypass")).resources, "uri")
                self.assertEqual(listed, ["notes://readme", "notes://note/a"], "index and secret1 filtered out")
                return c.audited_session

        session = self.run_async(body)
        decisions = [("resources/read", "notes://note/a", "allow"), ("resources/read", "notes://index", "deny"),
                     ("resources/read", "notes://note/secret1", "deny")]
        if not self.modern:
            decisions += [("resources/subscribe", "notes://note/a", "allow"), ("resources/subscribe", "notes://index", "deny"),
                          ("resources/unsubscribe", "notes://note/a", "allow"),
                          ("resources/unsubscribe", "notes://note/secret1", "deny")]
        for method, target, decision in decisions:
            self.assert_decision_audited("eve", session, method, "resource", target, decision)

    def test_completion_and_templates_need_the_right_grant(self):
        prompt = types.PromptReference(type="ref/prompt", name="summarize")
        draft = types.PromptReference(type="ref/prompt", name="draft_note")
        template = types.ResourceTemplateReference(type="ref/resource", uri=NOTE_TEMPLATE)

        async def body():
            async with self.connect(READER) as c:
                await c.client.call_tool("write_note", {"name": "alpha", "text": "1"})
                await c.client.call_tool("write_note", {"name": "beta", "text": "2"})
                self.assertEqual((await c.client.complete(prompt, {"name": "topic", "value": "a"})).completion.values,
                                 ["alpha"])
                self.assertEqual((await c.client.complete(template, {"name": "name", "value": "b"})).completion.values,
                                 ["beta"])
                await self.assert_refused(c.client.complete(draft, {"name": "name", "value": ""}),
                                          not_permitted("Prompt", "draft_note", "eve"), "completion of draft_note")
                listed = await c.client.list_resource_templates(cache_mode="bypass")
                self.assertEqual(names(listed.resource_templates, "uri_template"), [NOTE_TEMPLATE])
                reader = c.audited_session
            async with self.connect(TOOLSONLY) as c:
                await self.assert_refused(
                    c.client.complete(template, {"name": "name", "value": ""}),
                    "Completion of resource template %s is not permitted for tom on acme/notes" % NOTE_TEMPLATE,
                    "completion of the note template for tom, who holds no resource grant")
                listed = await c.client.list_resource_templates(cache_mode="bypass")
                self.assertEqual((listed.resource_templates, listed.next_cursor), ([], None))
                self.assertEqual(await self.tool_names(c), ALL_TOOLS)
                return reader, c.audited_session

        reader, toolsonly = self.run_async(body)
        self.assert_decision_audited("eve", reader, "completion/complete", "prompt", "summarize", "allow")
        self.assert_decision_audited("eve", reader, "completion/complete", "resource", NOTE_TEMPLATE, "allow")
        self.assert_decision_audited("eve", reader, "completion/complete", "prompt", "draft_note", "deny")
        self.assert_decision_audited("tom", toolsonly, "completion/complete", "resource", NOTE_TEMPLATE, "deny")

    # --- lists ----------------------------------------------------------------------------------

    def test_every_list_is_filtered_on_every_page(self):
        async def lists(token):
            async with self.connect(token, server="paged") as c:
                await c.client.call_tool("write_note", {"name": "a", "text": "1"})
                await c.client.call_tool("write_note", {"name": "b1", "text": "2"})
                return await self.every_list(c)

        async def body():
            return await lists(ADMIN), await lists(READER), await lists(TOOLSONLY)

        admin, reader, toolsonly = self.run_async(body)
        self.assertEqual(admin, PAGED_LISTS["admin"])
        self.assertEqual(reader, PAGED_LISTS["reader"], self.diagnostics())
        self.assertEqual(toolsonly, PAGED_LISTS["toolsonly"], self.diagnostics())

    # --- a scoped key --------------------------------------------------------------------------

    def test_a_scoped_key_is_held_to_its_scope(self):
        async def body():
            async with self.connect(SCOPED) as c:
                self.assertEqual(await self.every_list(c), {
                    "tools": [([], None)], "prompts": [([], None)], "resources": [([], None)],
                    "templates": [([NOTE_TEMPLATE], None)]})
                for tool in ("echo", "now"):
                    await self.assert_refused(c.client.call_tool(tool, {"text": "x"}), not_permitted("Tool", tool, "sam"),
                                              "tools/call " + tool)
                await self.assert_refused(c.client.get_prompt("summarize", {"topic": "x"}),
                                          not_permitted("Prompt", "summarize", "sam"), "prompts/get")
                await self.assert_refused(c.client.read_resource("notes://index", cache_mode="bypass"),
                                          not_permitted("Resource", "notes://index", "sam"), "resources/read index")
                code, message = await self.refused(c.client.read_resource("notes://note/a", cache_mode="bypass"),
                                                   "read notes://note/a")
                # Within the scope: the sample server's own answer (2026-07-28's code for "not found": -32602).
                self.assertEqual((code, message), (-32602 if self.modern else -32002, "Resource not found: notes://note/a"),
                                 "within the scope: the sample server's own answer\n" + self.diagnostics())
                if not self.modern:
                    await c.client.subscribe_resource("notes://note/a")
                return c.audited_session

        session = self.run_async(body)
        record = self.assert_decision_audited("sam", session, "tools/call", "tool", "echo", "deny")
        self.assertIn("key ci is scoped to %s" % SCOPE, record["reason"])
        self.assert_decision_audited("sam", session, "resources/read", "resource", "notes://note/a", "allow")
        if not self.modern:
            self.assert_decision_audited("sam", session, "resources/subscribe", "resource", "notes://note/a", "allow")

    # --- methods the gateway does not forward --------------------------------------------------

    def post_path(self, c, server):
        """Where this transport POSTs a session's messages (legacy SSE: the endpoint it was given)."""
        if self.transport == "streamable-http":
            return self.gateway.url(server, "mcp")[len(self.gateway.base):]
        posts = [e for e in self.http.entries if e["method"] == "POST" and "/messages" in e["path"]]
        return posts[-1]["path"] + "?" + posts[-1]["query"]

    def test_unknown_methods_and_requests_sent_as_notifications_are_not_forwarded(self):
        unknown = [("foo/bar", None), ("Tools/Call", {"name": "echo", "arguments": {"text": "x"}})]
        ghost = {"jsonrpc": "2.0", "method": "tools/call",
                 "params": {"name": "write_note", "arguments": {"name": "ghost", "text": "must never be written"}}}

        async def body():
            async with self.connect(ADMIN, server="tapped") as c:
                for method, params in unknown:
                    await self.assert_refused(c.client.session.send_request(types.Request(method=method, params=params),
                                                                            types.EmptyResult),
                                              "Method not found: " + method, method, code=-32601)
                headers = {"Authorization": "Bearer " + ADMIN}
                message = ghost
                if self.modern:
                    headers.update({"MCP-Protocol-Version": c.client.protocol_version, "Mcp-Method": "tools/call"})
                    message = dict(ghost, params=dict(ghost["params"], _meta={
                        "io.modelcontextprotocol/protocolVersion": c.client.protocol_version,
                        "io.modelcontextprotocol/clientCapabilities": {}}))
                elif self.transport == "streamable-http":
                    headers.update({"Mcp-Session-Id": c.session_id, "MCP-Protocol-Version": c.client.protocol_version})
                status, _, reply = await anyio.to_thread.run_sync(self.raw_post, self.post_path(c, "tapped"), message,
                                                                  headers)
                self.assertEqual((status, reply), (202, ""), "a tools/call notification is accepted, then dropped")
                if not self.modern:  # 2026-07-28 has no ping
                    await c.client.send_ping()
                self.assertEqual(await self.read_text(c, "notes://index"), [""], "the dropped write_note ran")
                await c.client.call_tool("write_note", {"name": "real", "text": "yes"})
                self.assertEqual(await self.read_text(c, "notes://index"), ["real: yes"])
                return c.audited_session

        session = self.run_async(body)
        for method, _ in unknown:
            self.assert_audited(user="ada", server="tapped", session=session, method=method, decision="deny")
        # A 2026-07-28 notification belongs to no session.
        dropped = self.audit_where(session=None if self.modern else session, method="tools/call", decision="deny")
        self.assertEqual(len(dropped), 1, self.gateway.audit_text())
        self.assertIn("without an id", dropped[0]["reason"])
        reached = self.tapped()
        self.assertFalse({m.get("method") for m in reached} & {"foo/bar", "Tools/Call"},
                         "an unknown method reached the server: %r" % reached)
        self.assertEqual([m["params"]["arguments"]["name"] for m in reached if m.get("method") == "tools/call"],
                         ["real"], "what reached the server")

    # --- server notifications --------------------------------------------------------------------

    # --- reloads -------------------------------------------------------------------------------

    def test_a_reload_that_narrows_tools_notifies_and_keeps_the_session(self):
        narrower = [rule for rule in READER_ALLOW if rule != "notes:write_note"]
        if self.modern:
            return self.check_a_reload_narrows_a_modern_clients_next_requests(narrower)

        async def body():
            async with self.connect(READER) as c:
                self.assertEqual(await self.tool_names(c), ["echo", "write_note"])
                await c.client.call_tool("write_note", {"name": "a", "text": "before"})
                await c.notifications.wait_for_method("notifications/resources/list_changed")  # the server's own
                await c.client.send_ping()
                c.notifications.seen.clear()
                upstream = self.upstream_pids()
                self.assertEqual(len(upstream), 1, "one upstream process for the one session")

                await anyio.to_thread.run_sync(self.reload, self.policy(reader_allow=narrower))
                await c.notifications.wait_for_method("notifications/tools/list_changed")
                await c.client.send_ping()
                await anyio.sleep(0.3)
                self.assertEqual(c.notifications.methods(), ["notifications/tools/list_changed"],
                                 "only the tools of the session changed")
                self.assertEqual(await self.tool_names(c), ["echo"])
                await self.assert_refused(c.client.call_tool("write_note", {"name": "b", "text": "after"}),
                                          not_permitted("Tool", "write_note", "eve"), "write_note after the reload")
                self.assertEqual((await c.client.call_tool("echo", {"text": "same session"})).content[0].text,
                                 "same session")
                self.assertEqual(await self.read_text(c, "notes://note/a"), ["before"], "the upstream kept its notes")
                self.assertEqual(self.upstream_pids(), upstream, "the upstream was restarted")
                self.assertTrue(all(self.alive(pid) for pid in upstream), "the upstream ended: %r" % upstream)
                self.assertEqual(self.session_end(c.session_id), [], "a reload ended the session")
                return c.session_id

        session = self.run_async(body)
        posts = [e for e in self.http.entries if e["method"] == "POST"
                 and (e.get("request") or {}).get("method") not in ("server/discover", "initialize")]
        if self.transport == "streamable-http":
            self.assertEqual({e["sessionSent"] for e in posts}, {session}, self.diagnostics())
        else:
            self.assertEqual({e["query"] for e in posts}, {"sessionId=" + session}, self.diagnostics())
        self.assertTrue(all(e["status"] in (200, 202) for e in posts), self.diagnostics())

    def check_a_reload_narrows_a_modern_clients_next_requests(self, narrower):
        # 2026-07-28: the change is announced on the client's listen stream (only the tools of the
        # caller changed); the next requests are decided under the new policy, on the same held
        # upstream session.
        async def body():
            async with self.connect(READER) as c:
                self.assertEqual(await self.tool_names(c), ["echo", "write_note"])
                await c.client.call_tool("write_note", {"name": "a", "text": "before"})
                upstream = self.upstream_pids()
                self.assertEqual(len(upstream), 1, "one upstream process for the key")
                async with c.client.listen(tools_list_changed=True, prompts_list_changed=True,
                                           resources_list_changed=True) as sub:
                    await anyio.to_thread.run_sync(self.reload, self.policy(reader_allow=narrower))
                    with anyio.fail_after(PROMPT):
                        event = await sub.__anext__()
                    self.assertEqual(type(event).__name__, "ToolsListChanged")
                self.assertEqual(await self.tool_names(c), ["echo"])
                await self.assert_refused(c.client.call_tool("write_note", {"name": "b", "text": "after"}),
                                          not_permitted("Tool", "write_note", "eve"), "write_note after the reload")
                self.assertEqual((await c.client.call_tool("echo", {"text": "same leg"})).content[0].text, "same leg")
                self.assertEqual(await self.read_text(c, "notes://note/a"), ["before"], "the upstream kept its notes")
                self.assertEqual(self.upstream_pids(), upstream, "the upstream was restarted")
                self.assertTrue(all(self.alive(pid) for pid in upstream), "the upstream ended: %r" % upstream)
                self.assertEqual(self.session_end(c.audited_session), [], "a reload ended the held session")

        self.run_async(body)
        posts = [e for e in self.http.entries if e["method"] == "POST"]
        self.assertFalse([e for e in posts if e["sessionSent"] or e["session"]], self.diagnostics())
        # The refused call is 400, as this era answers -32602; the rest are 200.
        refused = [e for e in posts if (e.get("request") or {}).get("params", {}).get("name") == "write_note"
                   and e["request"]["params"]["arguments"]["text"] == "after"]
        self.assertEqual([e["status"] for e in refused], [400], self.diagnostics())
        self.assertEqual({e["status"] for e in posts if e not in refused}, {200}, self.diagnostics())

    def test_a_reload_that_takes_the_server_away_ends_the_session(self):
        # eve loses acme/notes; tom, whose access did not change, keeps his session.
        no_notes = [rule for rule in READER_ALLOW if not rule.startswith("notes:")]

        async def body():
            outcome = {}
            async with self.connect(TOOLSONLY) as survivor:
                await survivor.client.call_tool("echo", {"text": "x"})
                outcome["tom"] = set(self.upstream_pids())
                try:
                    async with self.connect(READER) as eve:
                        await eve.client.call_tool("echo", {"text": "x"})
                        outcome["eve"] = set(self.upstream_pids()) - outcome["tom"]
                        outcome["session"] = eve.audited_session
                        await anyio.to_thread.run_sync(self.reload, self.policy(reader_allow=no_notes))
                        await anyio.to_thread.run_sync(self.wait_for_session_end, eve.audited_session)
                        outcome["ended"] = True
                except Exception as error:  # noqa: BLE001 - the ended session's client may fail on close
                    if "ended" not in outcome:
                        raise
                    outcome["client error of the ended session"] = error
                result = await survivor.client.call_tool("echo", {"text": "still here"})
                outcome["survivor"] = (result.content[0].text, survivor.notifications.methods(),
                                       self.session_end(survivor.audited_session), all(map(self.alive, outcome["tom"])))
            return outcome

        outcome = self.run_async(body)
        self.assertEqual((len(outcome["tom"]), len(outcome["eve"])), (1, 1), "one upstream per session: %r" % outcome)
        record = self.session_end(outcome["session"])[0]
        self.assertEqual((record["user"], record["reason"]), ("eve", "permission removed by a policy reload"), record)
        self.assert_processes_end(sorted(outcome["eve"]), timeout=PROMPT)
        self.assertEqual(outcome["survivor"], ("still here", [], [], True),
                         "tom's session goes on, told of no change, its upstream alive")

    # --- a key expiring mid-session ------------------------------------------------------------

    def document(self):
        if self._testMethodName == "test_an_expiring_key_ends_its_session_on_the_clock":
            self.expires_at = self.expiry(4)
            return self.policy(expiring_at=self.expires_at)
        return self.policy()

    def test_an_expiring_key_ends_its_session_on_the_clock(self):
        async def body():
            outcome = {}
            try:
                async with self.connect(EXPIRING) as c:
                    outcome["session"] = c.audited_session
                    self.assertEqual((await c.client.call_tool("echo", {"text": "in time"})).content[0].text, "in time")
                    outcome["upstream"] = self.upstream_pids()
                    self.assertGreater(self.seconds_until(self.expires_at), 0.5, "too slow to test before the expiry")
                    await anyio.to_thread.run_sync(
                        lambda: self.wait_until(lambda: self.session_end(c.audited_session),
                                                "the session to end when key soon expires", timeout=PROMPT))
                    outcome["ended after"] = -self.seconds_until(self.expires_at)
                    outcome["record"] = self.session_end(c.audited_session)[0]
                    outcome["gone"] = await anyio.to_thread.run_sync(self.wait_processes_gone, outcome["upstream"])
                    headers = {"Authorization": "Bearer " + EXPIRING}
                    if self.transport == "streamable-http" and not self.modern:
                        headers["Mcp-Session-Id"] = c.session_id
                    message = {"jsonrpc": "2.0", "id": 99, "method": "tools/call",
                               "params": {"name": "echo", "arguments": {"text": "too late"}}}
                    outcome["retry"] = await anyio.to_thread.run_sync(self.raw_post, self.post_path(c, "notes"),
                                                                      message, headers)
            except Exception as error:  # noqa: BLE001 - the client of an ended session may fail on close
                if "retry" not in outcome:
                    raise
                outcome["client error after the session ended"] = error
            return outcome

        outcome = self.run_async(body)
        record = outcome["record"]
        self.assertEqual((record["user"], record["key"], record["decision"]), ("kim", "soon", "end"), record)
        self.assertIn("key soon expired", record["reason"])
        self.assertLess(outcome["ended after"], 1.5, "the session should end within ~1 s of the key's expiry "
                        "(it ended %.2f s after)" % outcome["ended after"])
        self.assertGreaterEqual(outcome["ended after"], -0.05, "ended before the key expired: %r" % outcome)
        self.assertIsNotNone(outcome["gone"], "the upstream %r outlived its session by %d s"
                             % (outcome["upstream"], PROMPT))
        status, headers, body = outcome["retry"]
        self.assertEqual((status, body["error"]["code"]), (401, "unauthorized"), "a request with the expired key")
        self.assertEqual(headers["WWW-Authenticate"], 'Bearer realm="orch"')


class SessionNotificationCases:
    """Cases of the handshake era's session stream."""

    def test_resource_updates_reach_the_client_only_for_uris_it_may_read(self):
        # wes subscribes the sample server's test aid notes://* (his rule "notes:resources/notes://*"
        # matches that URI): each write_note makes the server send updated for notes://note/NAME and
        # for notes://index, which he may not read.
        async def updates(token):
            async with self.connect(token) as c:
                await c.client.subscribe_resource("notes://*")
                await c.client.call_tool("write_note", {"name": "a", "text": "1"})
                await c.notifications.wait_for(lambda n: "notes://note/a" in n.updated_uris(), "updated notes://note/a")
                await c.client.call_tool("write_note", {"name": "b", "text": "2"})
                await c.notifications.wait_for(lambda n: "notes://note/b" in n.updated_uris(), "updated notes://note/b")
                await c.client.send_ping()
                await anyio.sleep(0.3)
                return c.notifications

        async def body():
            return await updates(ADMIN), await updates(WATCHER)

        admin, watcher = self.run_async(body)
        self.assertEqual(admin.updated_uris(), ["notes://note/a", "notes://index", "notes://note/b", "notes://index"],
                         "the control: an admin gets both updates of each write")
        self.assertEqual(watcher.updated_uris(), ["notes://note/a", "notes://note/b"],
                         "wes may not read notes://index: its updates must not reach him")



class ListenCases:
    """The same cases on 2026-07-28's subscriptions/listen."""

    def test_resource_updates_reach_the_listen_stream_only_for_uris_it_may_read(self):
        # wes's rule "notes:resources/notes://*" lets him read the sample server's test aid
        # notes://*, which makes it send updated for every note and for notes://index; he names
        # that index too, but may not read it, so its updates must not reach him.
        uris = ["notes://*", "notes://note/a", "notes://note/b", "notes://index"]

        async def updates(token):
            async with self.connect(token) as c:
                got = []
                async with c.client.listen(resource_subscriptions=uris) as sub:
                    self.assertEqual(sorted(sub.honored.resource_subscriptions), sorted(uris))
                    for name in ("a", "b"):
                        await c.client.call_tool("write_note", {"name": name, "text": name})
                        with anyio.fail_after(PROMPT):
                            while True:
                                got.append((await sub.__anext__()).uri)
                                if got[-1] == "notes://note/" + name:
                                    break
                    await c.client.list_tools(cache_mode="bypass")  # any later update would have come first
                    with anyio.move_on_after(0.3):
                        got.append((await sub.__anext__()).uri)
                return got

        async def body():
            return await updates(ADMIN), await updates(WATCHER)

        admin, watcher = self.run_async(body)
        # The Client folds an update still pending into an equal one (events are level triggers),
        # so the control is the set: an admin gets updates of the notes and of the index.
        self.assertEqual(set(admin), {"notes://note/a", "notes://index", "notes://note/b"},
                         "the control: an admin gets both updates of each write")
        self.assertEqual(watcher, ["notes://note/a", "notes://note/b"],
                         "wes may not read notes://index: its updates must not reach him")


class StreamableHTTP(ListenCases, SDK2AuthzCase):
    transport = "streamable-http"


class StreamableHTTPLegacyMode(SessionNotificationCases, SDK2AuthzCase):
    transport = "streamable-http"
    mode = "legacy"


class LegacySSE(SessionNotificationCases, SDK2AuthzCase):
    transport = "sse"


del SDK2AuthzCase  # only the concrete transports run

if __name__ == "__main__":
    print("mcp %s" % importlib.metadata.version("mcp"), file=sys.stderr)
    unittest.main()
