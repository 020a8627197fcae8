"""End-to-end: authorization over every MCP method, with the official MCP Python SDK 1.x
(`mcp<2`) `ClientSession` as the client, over Streamable HTTP and legacy SSE.

Run with the 1.x venv:  .venv-mcp1/bin/python tests/e2e/test_authz_sdk1.py
Each test starts its own gateway on authz_fixtures.authz_policy() (see that module for who may do
what). Covered: each decided method allowed and refused (tools/call, prompts/get, resources/read,
resources/subscribe, resources/unsubscribe, completion/complete for both ref kinds,
resources/templates/list), lists filtered on every page, the servers' own filters, a scoped key,
unknown methods (-32601) and requests sent as notifications (dropped), filtered
notifications/resources/updated, reloads that narrow or widen a live session (list_changed, same
session and upstream) or take its server away (session ended), and a key expiring mid-session.
"""
import contextlib
import datetime
import importlib.metadata
import json
import os
import shutil
import sys
import tempfile
import unittest

import anyio
import mcp.types as types
from mcp import ClientSession
from mcp.client.sse import sse_client
from mcp.shared.exceptions import McpError
from mcp.shared.message import SessionMessage

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_mcp_sdk1 import open_streamable_http  # noqa: E402
from mcp_fixtures import ORG, PROMPT, WAIT  # noqa: E402
from authz_fixtures import (  # noqa: E402
    ADMIN, ALL_PROMPTS, ALL_TOOLS, EXPIRING, NOTE_TEMPLATE, PAGED_LISTS, READER, READER_ALLOW, SCOPE, SCOPED, TOOLSONLY, WATCHER,
    AuthzTestCase, Notifications, authz_policy, not_permitted, run_orch)


def notification_of(message):
    """(method, params) of a 1.x ServerNotification; None for anything else."""
    if not isinstance(message, types.ServerNotification):
        return None
    root = message.root
    params = root.params.model_dump(mode="json", by_alias=True, exclude_none=True) if root.params is not None else {}
    return root.method, params


class Connection:
    def __init__(self, session, initialized, session_id, write, notifications):
        self.session = session
        self.initialized = initialized
        self.session_id = session_id
        self.write = write  # the transport's write stream, for messages the SDK would not send
        self.notifications = notifications


def names(items, key="name"):
    return [str(getattr(item, key)) for item in items]


class SDK1AuthzCase(AuthzTestCase):
    transport = None  # "streamable-http" or "sse", set by the concrete classes below

    @contextlib.asynccontextmanager
    async def connect(self, token, server="notes"):
        """An initialized ClientSession to acme/SERVER as `token`, recording its notifications."""
        headers = {"Authorization": "Bearer " + token}
        notifications = Notifications(notification_of)
        read_timeout = datetime.timedelta(seconds=WAIT)
        if self.transport == "streamable-http":
            async with open_streamable_http(self.gateway.url(server, "mcp"), headers,
                                            self.http_client_factory) as (read, write, get_session_id):
                async with ClientSession(read, write, read_timeout_seconds=read_timeout,
                                         message_handler=notifications.handler) as session:
                    initialized = await session.initialize()
                    yield Connection(session, initialized, get_session_id(), write, notifications)
        else:
            created = []
            async with sse_client(self.gateway.url(server, "sse"), headers=headers, timeout=WAIT,
                                  sse_read_timeout=WAIT * 10, httpx_client_factory=self.http_client_factory,
                                  on_session_created=created.append) as (read, write):
                async with ClientSession(read, write, read_timeout_seconds=read_timeout,
                                         message_handler=notifications.handler) as session:
                    initialized = await session.initialize()
                    yield Connection(session, initialized, created[0] if created else None, write, notifications)

    async def refused(self, call, what):
        """Awaits `call`, which the gateway must refuse: (code, message) of its JSON-RPC error."""
        try:
            result = await call
        except McpError as error:
            return error.error.code, error.error.message
        raise AssertionError("%s should have been refused, but it returned %r\n%s" % (what, result, self.diagnostics()))

    async def assert_refused(self, call, message, what, code=-32602):
        got = await self.refused(call, what)
        self.assert_refusal(got[0], got[1], code, message, what)

    async def raw_request(self, c, method, params=None):
        """A request the SDK has no method for; its result, or McpError."""
        return await c.session.send_request(types.Request[dict | None, str](method=method, params=params), types.Result)

    async def pages(self, list_fn, field, key="name"):
        """[(item names, nextCursor)] for every page of one list."""
        out, cursor = [], None
        while True:
            result = await list_fn(params=types.PaginatedRequestParams(cursor=cursor))
            out.append((names(getattr(result, field), key), result.nextCursor))
            cursor = result.nextCursor
            if cursor is None or len(out) > 10:
                return out

    async def every_list(self, c):
        s = c.session
        return {"tools": await self.pages(s.list_tools, "tools"),
                "prompts": await self.pages(s.list_prompts, "prompts"),
                "resources": await self.pages(s.list_resources, "resources", "uri"),
                "templates": await self.pages(s.list_resource_templates, "resourceTemplates", "uriTemplate")}

    # --- each method, allowed and refused ---------------------------------------------------

    def test_tools_call_is_decided_per_tool(self):
        async def body():
            async with self.connect(READER) as c:
                caps = c.initialized.capabilities
                self.assertEqual((caps.tools.listChanged, caps.prompts.listChanged, caps.resources.listChanged),
                                 (True, True, True), "the gateway marks every list capability listChanged: %r" % caps)
                result = await c.session.call_tool("echo", {"text": "allowed"})
                self.assertEqual([(x.type, x.text) for x in result.content], [("text", "allowed")])
                await self.assert_refused(c.session.call_tool("add", {"a": 1, "b": 2}),
                                          not_permitted("Tool", "add", "eve"), "tools/call add")
                await self.assert_refused(c.session.call_tool("delete_note", {"name": "a"}),
                                          not_permitted("Tool", "delete_note", "eve"), "tools/call delete_note")
                self.assertEqual(sorted(names((await c.session.list_tools()).tools)), ["echo", "write_note"])
                return c.session_id

        session = self.run_async(body)
        self.assert_decision_audited("eve", session, "tools/call", "tool", "echo", "allow")
        denied = self.assert_decision_audited("eve", session, "tools/call", "tool", "add", "deny")
        self.assertIn("no role of eve allows", denied["reason"])
        self.assert_decision_audited("eve", session, "tools/call", "tool", "delete_note", "deny")

    def test_prompts_get_is_decided_per_prompt(self):
        async def body():
            async with self.connect(READER) as c:
                result = await c.session.get_prompt("summarize", {"topic": "birds"})
                self.assertEqual([m.content.text for m in result.messages], ["Summarize the notes about birds."])
                await self.assert_refused(c.session.get_prompt("draft_note", {"name": "x"}),
                                          not_permitted("Prompt", "draft_note", "eve"), "prompts/get draft_note")
                self.assertEqual(names((await c.session.list_prompts()).prompts), ["summarize"])
                return c.session_id

        session = self.run_async(body)
        self.assert_decision_audited("eve", session, "prompts/get", "prompt", "summarize", "allow")
        self.assert_decision_audited("eve", session, "prompts/get", "prompt", "draft_note", "deny")

    def test_resources_read_subscribe_and_unsubscribe_are_decided_per_uri(self):
        async def body():
            async with self.connect(READER) as c:
                await c.session.call_tool("write_note", {"name": "a", "text": "note a"})
                await c.session.call_tool("write_note", {"name": "secret1", "text": "classified"})
                read = await c.session.read_resource("notes://note/a")
                self.assertEqual([x.text for x in read.contents], ["note a"])
                read = await c.session.read_resource("notes://readme")
                self.assertIn("sample server keeps notes", read.contents[0].text)
                for uri in ("notes://index", "notes://note/secret1"):
                    await self.assert_refused(c.session.read_resource(uri), not_permitted("Resource", uri, "eve"),
                                              "resources/read " + uri)
                await c.session.subscribe_resource("notes://note/a")
                await self.assert_refused(c.session.subscribe_resource("notes://index"),
                                          not_permitted("Resource", "notes://index", "eve"), "resources/subscribe")
                await c.session.unsubscribe_resource("notes://note/a")
                await self.assert_refused(c.session.unsubscribe_resource("notes://note/secret1"),
                                          not_permitted("Resource", "notes://note/secret1", "eve"),
                                          "resources/unsubscribe")
                listed = names((await c.session.list_resources()).resources, "uri")
                self.assertEqual(listed, ["notes://readme", "notes://note/a"], "index and secret1 filtered out")
                return c.session_id

        session = self.run_async(body)
        for method, target, decision in [
                ("resources/read", "notes://note/a", "allow"), ("resources/read", "notes://readme", "allow"),
                ("resources/read", "notes://index", "deny"), ("resources/read", "notes://note/secret1", "deny"),
                ("resources/subscribe", "notes://note/a", "allow"), ("resources/subscribe", "notes://index", "deny"),
                ("resources/unsubscribe", "notes://note/a", "allow"),
                ("resources/unsubscribe", "notes://note/secret1", "deny")]:
            record = self.assert_decision_audited("eve", session, method, "resource", target, decision)
            self.assertIsNone(record.get("tool"), "a resource decision names no tool: %r" % record)
        denied = self.audit_where(session=session, method="resources/read", target="notes://note/secret1")[0]
        self.assertIn('denies "notes:resources/notes://note/secret*"', denied["reason"])

    def test_completion_is_decided_on_its_reference(self):
        prompt = types.PromptReference(type="ref/prompt", name="summarize")
        draft = types.PromptReference(type="ref/prompt", name="draft_note")
        template = types.ResourceTemplateReference(type="ref/resource", uri=NOTE_TEMPLATE)

        async def body():
            async with self.connect(READER) as c:
                await c.session.call_tool("write_note", {"name": "alpha", "text": "1"})
                await c.session.call_tool("write_note", {"name": "beta", "text": "2"})
                done = await c.session.complete(prompt, {"name": "topic", "value": "a"})
                self.assertEqual(done.completion.values, ["alpha"])
                done = await c.session.complete(template, {"name": "name", "value": "b"})
                self.assertEqual(done.completion.values, ["beta"])
                await self.assert_refused(c.session.complete(draft, {"name": "name", "value": ""}),
                                          not_permitted("Prompt", "draft_note", "eve"), "completion of draft_note")
                reader = c.session_id
            async with self.connect(TOOLSONLY) as c:
                await self.assert_refused(
                    c.session.complete(template, {"name": "name", "value": ""}),
                    "Completion of resource template %s is not permitted for tom on acme/notes" % NOTE_TEMPLATE,
                    "completion of the note template for tom, who holds no resource grant")
                await self.assert_refused(c.session.complete(prompt, {"name": "topic", "value": ""}),
                                          not_permitted("Prompt", "summarize", "tom"), "completion of summarize")
                return reader, c.session_id

        reader, toolsonly = self.run_async(body)
        self.assert_decision_audited("eve", reader, "completion/complete", "prompt", "summarize", "allow")
        self.assert_decision_audited("eve", reader, "completion/complete", "resource", NOTE_TEMPLATE, "allow")
        self.assert_decision_audited("eve", reader, "completion/complete", "prompt", "draft_note", "deny")
        self.assert_decision_audited("tom", toolsonly, "completion/complete", "resource", NOTE_TEMPLATE, "deny")
        self.assert_decision_audited("tom", toolsonly, "completion/complete", "prompt", "summarize", "deny")

    def test_resource_templates_are_listed_only_with_some_resource_grant(self):
        async def body():
            async with self.connect(READER) as c:
                listed = await c.session.list_resource_templates()
                self.assertEqual(names(listed.resourceTemplates, "uriTemplate"), [NOTE_TEMPLATE])
            async with self.connect(TOOLSONLY) as c:
                # "notes:*" is every tool and no prompt or resource.
                listed = await c.session.list_resource_templates()
                self.assertEqual((listed.resourceTemplates, listed.nextCursor), ([], None))
                self.assertEqual(sorted(names((await c.session.list_tools()).tools)), ALL_TOOLS)
                self.assertEqual((await c.session.list_prompts()).prompts, [])
                self.assertEqual((await c.session.list_resources()).resources, [])
                await self.assert_refused(c.session.read_resource("notes://readme"),
                                          not_permitted("Resource", "notes://readme", "tom"), "resources/read")
                await self.assert_refused(c.session.get_prompt("summarize", {"topic": "x"}),
                                          not_permitted("Prompt", "summarize", "tom"), "prompts/get")

        self.run_async(body)

    # --- lists ----------------------------------------------------------------------------------

    def test_every_list_is_filtered_on_every_page(self):
        # acme/paged answers one item a page; each page is filtered, cursors pass through.
        async def lists(token):
            async with self.connect(token, server="paged") as c:
                await c.session.call_tool("write_note", {"name": "a", "text": "1"})
                await c.session.call_tool("write_note", {"name": "b1", "text": "2"})
                return await self.every_list(c)

        async def body():
            return await lists(ADMIN), await lists(READER), await lists(TOOLSONLY)

        admin, reader, toolsonly = self.run_async(body)
        self.assertEqual(admin, PAGED_LISTS["admin"])
        self.assertEqual(reader, PAGED_LISTS["reader"], self.diagnostics())
        self.assertEqual(toolsonly, PAGED_LISTS["toolsonly"], self.diagnostics())

    def test_a_servers_filters_hide_items_from_everyone(self):
        # acme/filtered: tools deny now and delete_*, prompts allow summarize, resources deny index.
        async def body():
            async with self.connect(ADMIN, server="filtered") as c:
                await c.session.call_tool("write_note", {"name": "a", "text": "1"})
                self.assertEqual(await self.every_list(c), {
                    "tools": [(["add", "echo", "write_note"], None)],
                    "prompts": [(["summarize"], None)],
                    "resources": [(["notes://readme", "notes://note/a"], None)],
                    "templates": [([NOTE_TEMPLATE], None)]})
                await self.assert_refused(c.session.call_tool("now", {}),
                                          not_permitted("Tool", "now", "ada", "filtered"), "tools/call now")
                await self.assert_refused(c.session.get_prompt("draft_note", {"name": "x"}),
                                          not_permitted("Prompt", "draft_note", "ada", "filtered"), "prompts/get")
                await self.assert_refused(c.session.read_resource("notes://index"),
                                          not_permitted("Resource", "notes://index", "ada", "filtered"), "read")
                return c.session_id

        session = self.run_async(body)
        record = self.assert_decision_audited("ada", session, "tools/call", "tool", "now", "deny", server="filtered")
        self.assertIn("server acme/filtered hides now", record["reason"])
        record = self.assert_decision_audited("ada", session, "resources/read", "resource", "notes://index", "deny",
                                              server="filtered")
        self.assertIn("server acme/filtered hides", record["reason"])

    # --- a scoped key --------------------------------------------------------------------------

    def test_a_scoped_key_is_held_to_its_scope(self):
        # sam's role allows everything; his key ci is scoped to acme/notes:resources/notes://note/*.
        async def body():
            async with self.connect(SCOPED) as c:
                self.assertEqual(await self.every_list(c), {
                    "tools": [([], None)], "prompts": [([], None)], "resources": [([], None)],
                    "templates": [([NOTE_TEMPLATE], None)]})
                for tool, args in (("echo", {"text": "x"}), ("write_note", {"name": "a", "text": "x"})):
                    await self.assert_refused(c.session.call_tool(tool, args), not_permitted("Tool", tool, "sam"),
                                              "tools/call " + tool)
                await self.assert_refused(c.session.get_prompt("summarize", {"topic": "x"}),
                                          not_permitted("Prompt", "summarize", "sam"), "prompts/get")
                await self.assert_refused(
                    c.session.complete(types.PromptReference(type="ref/prompt", name="summarize"),
                                       {"name": "topic", "value": ""}),
                    not_permitted("Prompt", "summarize", "sam"), "completion of summarize")
                for uri in ("notes://index", "notes://readme"):
                    await self.assert_refused(c.session.read_resource(uri), not_permitted("Resource", uri, "sam"),
                                              "resources/read " + uri)
                # Within the scope the request reaches the server, which has no such note (its
                # sessions' notes are their own, and this key cannot write one).
                code, message = await self.refused(c.session.read_resource("notes://note/a"), "read notes://note/a")
                self.assertEqual((code, message), (-32002, "Resource not found: notes://note/a"),
                                 "the sample server's own answer, not the gateway's\n" + self.diagnostics())
                await c.session.subscribe_resource("notes://note/a")
                await c.session.unsubscribe_resource("notes://note/a")
                done = await c.session.complete(types.ResourceTemplateReference(type="ref/resource", uri=NOTE_TEMPLATE),
                                                {"name": "name", "value": ""})
                self.assertEqual(done.completion.values, [])
                return c.session_id

        session = self.run_async(body)
        record = self.assert_decision_audited("sam", session, "tools/call", "tool", "echo", "deny")
        self.assertIn("key ci is scoped to %s" % SCOPE, record["reason"])
        self.assertEqual(record["key"], "ci")
        # A server outside the scope is answered as one that does not exist.
        for server in ("paged", "nope"):
            status, _, reply = self.raw_post(self.gateway.url(server, "mcp")[len(self.gateway.base):], {
                "jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
                    "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "e2e", "version": "1"}}},
                {"Authorization": "Bearer " + SCOPED})
            self.assertEqual((status, reply), (404, {"error": {"code": "not_found", "message": "no server acme/" + server}}))
        self.assert_decision_audited("sam", session, "resources/read", "resource", "notes://note/a", "allow")
        self.assert_decision_audited("sam", session, "resources/subscribe", "resource", "notes://note/a", "allow")

    # --- methods the gateway does not forward --------------------------------------------------

    def test_unknown_methods_are_refused_with_method_not_found(self):
        # acme/tapped records every message that reaches the server; ada may use all of it.
        unknown = [("foo/bar", None), ("Tools/Call", {"name": "echo", "arguments": {"text": "x"}}),
                   ("sampling/createMessage", {"messages": [], "maxTokens": 1})]

        async def body():
            async with self.connect(ADMIN, server="tapped") as c:
                for method, params in unknown:
                    await self.assert_refused(self.raw_request(c, method, params), "Method not found: " + method,
                                              method, code=-32601)
                # The session goes on.
                self.assertEqual((await c.session.call_tool("echo", {"text": "on"})).content[0].text, "on")
                return c.session_id

        session = self.run_async(body)
        for method, _ in unknown:
            record = self.assert_audited(user="ada", server="tapped", session=session, method=method, decision="deny")[0]
            self.assertIn(method, record["reason"])
        reached = [m.get("method") for m in self.tapped()]
        self.assertIn("tools/call", reached, "the tap saw nothing: %r" % reached)
        self.assertFalse({method for method, _ in unknown} & set(reached),
                         "an unknown method reached the server: %r" % reached)

    def test_a_request_sent_as_a_notification_is_dropped_and_audited(self):
        ghost = {"name": "write_note", "arguments": {"name": "ghost", "text": "must never be written"}}

        async def body():
            async with self.connect(ADMIN, server="tapped") as c:
                await c.write.send(SessionMessage(types.JSONRPCMessage(
                    types.JSONRPCNotification(jsonrpc="2.0", method="tools/call", params=ghost))))
                await anyio.to_thread.run_sync(lambda: self.wait_until(
                    lambda: self.audit_where(session=c.session_id, method="tools/call", decision="deny"),
                    "the audit record of the dropped tools/call notification"))
                await c.session.send_ping()
                # ada may write notes: had it been forwarded, the note would be in the index.
                index = await c.session.read_resource("notes://index")
                self.assertEqual(index.contents[0].text, "", "the dropped write_note ran\n" + self.diagnostics())
                self.assertNotIn("notes://note/ghost", names((await c.session.list_resources()).resources, "uri"))
                # The same call as a request does run (so the check above could see it).
                await c.session.call_tool("write_note", {"name": "real", "text": "yes"})
                self.assertEqual((await c.session.read_resource("notes://index")).contents[0].text, "real: yes")
                return c.session_id

        session = self.run_async(body)
        posted = [e for e in self.http.entries if e["method"] == "POST" and isinstance(e.get("request"), dict)
                  and e["request"].get("method") == "tools/call" and "id" not in e["request"]]
        self.assertEqual([e["status"] for e in posted], [202], "the notification's POST\n" + self.diagnostics())
        dropped = self.audit_where(session=session, method="tools/call", decision="deny")
        self.assertEqual(len(dropped), 1, self.gateway.audit_text())
        self.assertIn("without an id", dropped[0]["reason"])
        self.assertEqual([r["target"] for r in self.audit_where(session=session, method="tools/call", decision="allow")],
                         ["write_note"], "only the real call ran")
        calls = [m["params"]["arguments"]["name"] for m in self.tapped() if m.get("method") == "tools/call"]
        self.assertEqual(calls, ["real"], "what reached the server")

    # --- server notifications --------------------------------------------------------------------

    def test_resource_updates_reach_the_client_only_for_uris_it_may_read(self):
        # Subscribed to the sample server's test aid `notes://*`, a write_note of NAME makes it send
        # notifications/resources/updated for notes://note/NAME, then for notes://index. wes may
        # read notes://* but not notes://index; ada (the control) may read both.
        async def updates(token):
            async with self.connect(token) as c:
                await c.session.subscribe_resource("notes://*")
                await c.session.call_tool("write_note", {"name": "a", "text": "1"})
                await c.notifications.wait_for(lambda n: "notes://note/a" in n.updated_uris(), "updated notes://note/a")
                # The server sent index's update before the second write's, on the same stream: once
                # notes://note/b's arrives, index's would have too.
                await c.session.call_tool("write_note", {"name": "b", "text": "2"})
                await c.notifications.wait_for(lambda n: "notes://note/b" in n.updated_uris(), "updated notes://note/b")
                await c.session.send_ping()
                await anyio.sleep(0.3)
                if token == WATCHER:
                    await self.assert_refused(c.session.subscribe_resource("notes://index"),
                                              not_permitted("Resource", "notes://index", "wes"), "subscribe index")
                    self.assertEqual((await c.session.read_resource("notes://note/a")).contents[0].text, "1")
                return c.notifications

        async def body():
            return await updates(ADMIN), await updates(WATCHER)

        admin, watcher = self.run_async(body)
        self.assertEqual(admin.updated_uris(), ["notes://note/a", "notes://index", "notes://note/b", "notes://index"],
                         "the control: an admin gets both updates of each write")
        self.assertEqual(watcher.updated_uris(), ["notes://note/a", "notes://note/b"],
                         "wes may not read notes://index: its updates must not reach him")
        self.assertEqual(watcher.methods().count("notifications/resources/list_changed"), 2, watcher.seen)

    # --- reloads -------------------------------------------------------------------------------

    def test_a_reload_that_narrows_tools_notifies_and_keeps_the_session(self):
        narrower = [rule for rule in READER_ALLOW if rule != "notes:write_note"]
        wider = narrower + ["notes:prompts/draft_note", "notes:resources/notes://index"]

        async def body():
            async with self.connect(READER) as c:
                self.assertEqual(sorted(names((await c.session.list_tools()).tools)), ["echo", "write_note"])
                await c.session.call_tool("write_note", {"name": "a", "text": "before"})
                # write_note makes the server itself send resources/list_changed: wait for it, then
                # count only what comes after.
                await c.notifications.wait_for_method("notifications/resources/list_changed")
                await c.session.send_ping()
                c.notifications.seen.clear()
                upstream = self.upstream_pids()
                self.assertEqual(len(upstream), 1, "one upstream process for the one session")

                await anyio.to_thread.run_sync(self.reload, self.policy(reader_allow=narrower))
                await c.notifications.wait_for_method("notifications/tools/list_changed")
                await c.session.send_ping()
                await anyio.sleep(0.3)
                self.assertEqual(c.notifications.methods(), ["notifications/tools/list_changed"],
                                 "only the tools of the session changed")
                self.assertEqual(names((await c.session.list_tools()).tools), ["echo"])
                await self.assert_refused(c.session.call_tool("write_note", {"name": "b", "text": "after"}),
                                          not_permitted("Tool", "write_note", "eve"), "write_note after the reload")
                result = await c.session.call_tool("echo", {"text": "same session"})
                self.assertEqual(result.content[0].text, "same session")
                # The notes the upstream kept are still there: the same process serves the session.
                self.assertEqual((await c.session.read_resource("notes://note/a")).contents[0].text, "before")

                await anyio.to_thread.run_sync(self.reload, self.policy(reader_allow=wider))
                await c.notifications.wait_for(
                    lambda n: {"notifications/prompts/list_changed", "notifications/resources/list_changed"}
                    <= set(n.methods()), "prompts and resources list_changed")
                await c.session.send_ping()
                await anyio.sleep(0.3)
                self.assertEqual(sorted(c.notifications.methods()),
                                 ["notifications/prompts/list_changed", "notifications/resources/list_changed",
                                  "notifications/tools/list_changed"], "tools did not change again")
                self.assertEqual(names((await c.session.list_prompts()).prompts), ALL_PROMPTS)
                self.assertEqual((await c.session.read_resource("notes://index")).contents[0].text, "a: before")
                self.assertEqual(self.upstream_pids(), upstream, "the upstream was restarted")
                self.assertTrue(all(self.alive(pid) for pid in upstream), "the upstream ended: %r" % upstream)
                self.assertEqual(self.session_end(c.session_id), [], "a reload ended the session")
                return c.session_id

        session = self.run_async(body)
        # Every request of the session, before and after both reloads, carried the one session id
        # and was answered (legacy SSE: every POST goes to the session's endpoint).
        posts = [e for e in self.http.entries if e["method"] == "POST"]
        if self.transport == "streamable-http":
            self.assertEqual({e["sessionSent"] for e in posts[1:]}, {session}, self.diagnostics())
        else:
            self.assertEqual({e["query"] for e in posts}, {"sessionId=" + session}, self.diagnostics())
        self.assertTrue(all(e["status"] in (200, 202) for e in posts), self.diagnostics())
        self.assert_decision_audited("eve", session, "tools/call", "tool", "echo", "allow")

    def test_a_reload_that_takes_the_server_away_ends_only_those_sessions(self):
        # eve loses acme/notes, wes's key is removed, acme/paged's args change (page size 1 -> 2);
        # tom keeps his session.
        no_notes = [rule for rule in READER_ALLOW if not rule.startswith("notes:")]
        ended = {"eve": "permission removed by a policy reload",
                 "wes": "its key was removed, expired or disabled by a policy reload",
                 "ada": "the server's definition changed in a policy reload"}

        async def body():
            outcome = {"pids": {}, "sessions": {}}

            def opened(who, c):
                outcome["pids"][who] = set(self.upstream_pids()) - set().union(*outcome["pids"].values())
                outcome["sessions"][who] = c.session_id

            async with self.connect(TOOLSONLY) as survivor:
                await survivor.session.call_tool("echo", {"text": "x"})
                opened("tom", survivor)
                try:
                    async with self.connect(READER) as eve:
                        opened("eve", eve)
                        async with self.connect(WATCHER) as wes:
                            opened("wes", wes)
                            async with self.connect(ADMIN, server="paged") as ada:
                                opened("ada", ada)
                                await anyio.to_thread.run_sync(self.reload, self.policy(
                                    reader_allow=no_notes, without_keys=["wes"], paged_page_size=2))
                                for who in ended:
                                    await anyio.to_thread.run_sync(self.wait_for_session_end, outcome["sessions"][who])
                                outcome["ended"] = True
                except Exception as error:  # noqa: BLE001 - the ended sessions' clients may fail on close
                    if "ended" not in outcome:
                        raise
                    outcome["client error of an ended session"] = error
                result = await survivor.session.call_tool("echo", {"text": "still here"})
                outcome["survivor"] = (result.content[0].text, survivor.notifications.methods(),
                                       self.session_end(survivor.session_id), all(map(self.alive, outcome["pids"]["tom"])))
            return outcome

        outcome = self.run_async(body)
        self.assertEqual({who: len(pids) for who, pids in outcome["pids"].items()},
                         {"tom": 1, "eve": 1, "wes": 1, "ada": 1}, "one upstream process per session: %r" % outcome)
        for who, reason in ended.items():
            record = self.session_end(outcome["sessions"][who])[0]
            self.assertEqual(record["reason"], reason, record)
        self.assert_processes_end(sorted(set().union(*(outcome["pids"][who] for who in ended))), timeout=PROMPT)
        self.assertEqual(outcome["survivor"], ("still here", [], [], True),
                         "tom's session goes on, told of no change, its upstream alive")

    def test_a_reload_of_a_servers_filter_or_a_keys_scope_notifies_its_sessions(self):
        async def body():
            async with self.connect(ADMIN, server="filtered") as ada, self.connect(SCOPED) as sam:
                self.assertEqual(names((await ada.session.list_tools()).tools), ["add", "echo", "write_note"])
                self.assertEqual((await sam.session.list_tools()).tools, [])
                await anyio.to_thread.run_sync(self.reload, self.policy(
                    filtered_tools={"deny": ["now"]}, scope=[SCOPE, "acme/notes:echo"]))
                for c in (ada, sam):
                    await c.notifications.wait_for_method("notifications/tools/list_changed")
                    await c.session.send_ping()
                await anyio.sleep(0.3)
                self.assertEqual((ada.notifications.methods(), sam.notifications.methods()),
                                 (["notifications/tools/list_changed"], ["notifications/tools/list_changed"]),
                                 "only the tools of either session changed")
                self.assertEqual(names((await ada.session.list_tools()).tools),
                                 ["add", "delete_note", "echo", "write_note"])
                self.assertEqual(names((await sam.session.list_tools()).tools), ["echo"])
                self.assertEqual((await sam.session.call_tool("echo", {"text": "in scope"})).content[0].text, "in scope")
                self.assertEqual((await ada.session.call_tool("delete_note", {"name": "x"})).content[0].text,
                                 "no note x")
                return ada.session_id, sam.session_id

        for session in self.run_async(body):
            self.assertFalse([r for r in self.session_end(session) if "reload" in r["reason"]], self.gateway.audit_text())

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
                    outcome["session"] = c.session_id
                    self.assertEqual((await c.session.call_tool("echo", {"text": "in time"})).content[0].text, "in time")
                    outcome["upstream"] = self.upstream_pids()
                    self.assertGreater(self.seconds_until(self.expires_at), 0.5, "too slow to test before the expiry")
                    await anyio.to_thread.run_sync(
                        lambda: self.wait_until(lambda: self.session_end(c.session_id),
                                                "the session to end when key soon expires", timeout=PROMPT))
                    outcome["ended after"] = -self.seconds_until(self.expires_at)
                    outcome["record"] = self.session_end(c.session_id)[0]
                    outcome["processes gone after"] = await anyio.to_thread.run_sync(self.wait_processes_gone,
                                                                                    outcome["upstream"])
                    outcome["retry"] = await anyio.to_thread.run_sync(self.retry_request, c.session_id)
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
        self.assertIsNotNone(outcome["processes gone after"], "the upstream %r outlived its session by %d s"
                             % (outcome["upstream"], PROMPT))
        status, headers, body = outcome["retry"]
        self.assertEqual(status, 401, "a request with the expired key: %r %r" % (status, body))
        self.assertEqual(headers["WWW-Authenticate"], 'Bearer realm="orch"')
        self.assertEqual(body["error"]["code"], "unauthorized")
        self.assert_audited(user="kim", decision="deny", status=401)

    def retry_request(self, session_id):
        """A tools/call with the expired key on the ended session, by hand."""
        message = {"jsonrpc": "2.0", "id": 99, "method": "tools/call",
                   "params": {"name": "echo", "arguments": {"text": "too late"}}}
        headers = {"Authorization": "Bearer " + EXPIRING}
        if self.transport == "streamable-http":
            headers["Mcp-Session-Id"] = session_id
            return self.raw_post("/orgs/%s/servers/notes/mcp" % ORG, message, headers)
        posts = [e for e in self.http.entries if e["method"] == "POST"]
        return self.raw_post(posts[-1]["path"] + "?" + posts[-1]["query"], message, headers)


class StreamableHTTP(SDK1AuthzCase):
    transport = "streamable-http"


class LegacySSE(SDK1AuthzCase):
    transport = "sse"


class OrchCan(unittest.TestCase):
    """`orch can` answers prompt and resource targets, with the key's scope."""

    def setUp(self):
        self.folder = tempfile.mkdtemp(prefix="orch-e2e-can-")
        self.addCleanup(shutil.rmtree, self.folder, True)
        self.path = os.path.join(self.folder, "orch.json")
        with open(self.path, "w") as f:
            json.dump(authz_policy(), f)

    def test_prompt_and_resource_targets(self):
        status, out, err = run_orch("can", "-c", self.path, "eve", "acme/notes:prompts/summarize",
                                    "acme/notes:resources/notes://note/a")
        self.assertEqual((status, out.splitlines()), (0, [
            'allow acme/notes:prompts/summarize  role reader allows "notes:prompts/summarize"',
            'allow acme/notes:resources/notes://note/a  role reader allows "notes:resources/notes://note/*"']), err)
        status, out, err = run_orch("can", "-c", self.path, "eve", "acme/notes:prompts/draft_note",
                                    "acme/notes:resources/notes://note/secret1")
        self.assertEqual(status, 1, out + err)
        lines = out.splitlines()
        self.assertEqual([line.split("  ")[0] for line in lines],
                         ["deny acme/notes:prompts/draft_note", "deny acme/notes:resources/notes://note/secret1"], out)
        self.assertIn('denies "notes:resources/notes://note/secret*"', lines[1])
        status, out, err = run_orch("can", "-c", self.path, "--key", "ci", "sam",
                                    "acme/notes:resources/notes://note/a", "acme/notes:resources/notes://index")
        self.assertEqual(status, 1, out + err)
        lines = out.splitlines()
        self.assertTrue(lines[0].startswith("allow acme/notes:resources/notes://note/a  "), out)
        self.assertTrue(lines[1].startswith("deny acme/notes:resources/notes://index  key ci is scoped to " + SCOPE), out)


del SDK1AuthzCase  # only the concrete transports run

if __name__ == "__main__":
    print("mcp %s" % importlib.metadata.version("mcp"), file=sys.stderr)
    unittest.main()
