"""End-to-end: sampling, elicitation and progress through `orch serve` with the official MCP Python
SDK 1.x (`mcp<2`), over both downstream transports (Streamable HTTP and legacy SSE).

Run with the 1.x venv:  cd tests/e2e && ../../.venv-mcp1/bin/python test_interactive_sdk1.py -v

The upstream is tests/e2e/interactive_upstream.py (FastMCP over stdio, launched by the gateway with
this interpreter): its tools send sampling/createMessage and elicitation/create back to the client
in the middle of a tools/call, and notifications/progress for a call made with a progressToken.
The gateway must carry those server-to-client requests to the client (on the call's SSE stream, or
the legacy SSE stream) and the client's responses back to the upstream.
"""
import asyncio
import contextlib
import datetime
import importlib.metadata
import os
import sys
import unittest

import mcp.types as types
from mcp import ClientSession
from mcp.client.sse import sse_client

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from test_mcp_sdk1 import open_streamable_http  # noqa: E402
from mcp_fixtures import CALLER, ORG, WAIT, GatewayTestCase, policy  # noqa: E402

SERVER = "interactive"
TOOLS = ["ask_model", "ask_user", "count"]


def document():
    """policy() plus acme/interactive (interactive_upstream.py over stdio with this python), whose
    three tools eve's caller role may call."""
    upstream = {"command": sys.executable, "args": [os.path.join(HERE, "interactive_upstream.py")]}
    return policy(extra_servers={SERVER: upstream}, extra_allow=["%s:%s" % (SERVER, t) for t in TOOLS])


async def bounded(awaitable, what):
    """`awaitable` within WAIT seconds, else AssertionError naming `what`."""
    try:
        return await asyncio.wait_for(awaitable, WAIT)
    except asyncio.TimeoutError:
        raise AssertionError("timed out after %d s waiting for %s" % (WAIT, what)) from None


def texts(result):
    return [c.text for c in result.content if c.type == "text"]


class Client:
    """The client side's callbacks: what they were called with, and what they answer."""

    def __init__(self):
        self.sampling = []      # CreateMessageRequestParams, in order
        self.elicitations = []  # ElicitRequestParams, in order
        self.elicit_answers = []  # ElicitResult to give, first one first

    async def on_sampling(self, context, params):
        self.sampling.append(params)
        prompt = " ".join(m.content.text for m in params.messages if isinstance(m.content, types.TextContent))
        return types.CreateMessageResult(
            role="assistant", model="e2e-model", stopReason="endTurn",
            content=types.TextContent(type="text", text="the answer to %r is 42" % prompt))

    async def on_elicitation(self, context, params):
        self.elicitations.append(params)
        if not self.elicit_answers:
            return types.ErrorData(code=types.INTERNAL_ERROR, message="the test gave no answer for this elicitation")
        return self.elicit_answers.pop(0)


class InteractiveCase(GatewayTestCase):
    transport = None  # "streamable-http" or "sse", set by the concrete classes below
    document = staticmethod(document)

    @contextlib.asynccontextmanager
    async def connect(self, client=None, token=CALLER):
        """An initialized ClientSession to acme/interactive through the gateway; with `client`, its
        sampling and elicitation callbacks are set (so the session declares those capabilities)."""
        headers = {"Authorization": "Bearer " + token}
        callbacks = {}
        if client is not None:
            callbacks = {"sampling_callback": client.on_sampling, "elicitation_callback": client.on_elicitation}
        read_timeout = datetime.timedelta(seconds=WAIT)
        if self.transport == "streamable-http":
            url = self.gateway.url(SERVER, "mcp")
            async with open_streamable_http(url, headers, self.http_client_factory) as (read, write, _):
                async with ClientSession(read, write, read_timeout_seconds=read_timeout, **callbacks) as session:
                    await bounded(session.initialize(), "initialize")
                    yield session
        else:
            url = self.gateway.url(SERVER, "sse")
            async with sse_client(url, headers=headers, timeout=WAIT, sse_read_timeout=WAIT * 10,
                                  httpx_client_factory=self.http_client_factory) as (read, write):
                async with ClientSession(read, write, read_timeout_seconds=read_timeout, **callbacks) as session:
                    await bounded(session.initialize(), "initialize")
                    yield session

    def call(self, session, name, arguments, **kwargs):
        return bounded(session.call_tool(name, arguments, **kwargs), "tools/call %s %r" % (name, arguments))

    def assert_call_was_streamed(self, tool):
        """Streamable HTTP: the gateway answered every POST of tools/call `tool` as text/event-stream
        (the stream that carries the upstream's requests and notifications mid-call). Legacy SSE:
        nothing to check, everything comes on the one SSE stream."""
        if self.transport != "streamable-http":
            return
        posts = [e for e in self.http.entries if e["method"] == "POST" and isinstance(e.get("request"), dict)
                 and e["request"].get("method") == "tools/call" and e["request"]["params"].get("name") == tool]
        self.assertTrue(posts, "no POST of tools/call %s\n%s" % (tool, self.diagnostics()))
        self.assertEqual([(e["status"], e["contentType"].split(";")[0]) for e in posts],
                         [(200, "text/event-stream")] * len(posts), self.diagnostics())

    # --- tests -------------------------------------------------------------------------------

    def test_sampling_round_trips_through_the_gateway(self):
        client = Client()

        async def body():
            async with self.connect(client) as session:
                listed = await bounded(session.list_tools(), "tools/list")
                self.assertEqual(sorted(t.name for t in listed.tools), TOOLS)
                result = await self.call(session, "ask_model", {"prompt": "what is six times seven?"})
                self.assertFalse(result.isError, "ask_model failed: %r\n%s" % (texts(result), self.diagnostics()))
                return result

        result = self.run_async(body, timeout=3 * WAIT)
        self.assertEqual(len(client.sampling), 1, "the sampling callback ran %d times\n%s"
                         % (len(client.sampling), self.diagnostics()))
        params = client.sampling[0]
        self.assertEqual([(m.role, m.content.text) for m in params.messages],
                         [("user", "what is six times seven?")])
        self.assertEqual(params.maxTokens, 64)
        self.assertEqual(texts(result), ["model said: the answer to 'what is six times seven?' is 42"])
        self.assert_audited(user="eve", org=ORG, server=SERVER, method="tools/call", tool="ask_model",
                            decision="allow")
        self.assert_call_was_streamed("ask_model")

    def test_elicitation_round_trips_through_the_gateway(self):
        client = Client()
        client.elicit_answers = [
            types.ElicitResult(action="accept", content={"name": "Ada", "confirmed": True}),
            types.ElicitResult(action="decline"),
        ]

        async def body():
            async with self.connect(client) as session:
                accepted = await self.call(session, "ask_user", {"question": "Who are you?"})
                declined = await self.call(session, "ask_user", {"question": "Really?"})
                return accepted, declined

        accepted, declined = self.run_async(body, timeout=3 * WAIT)
        self.assertEqual([p.message for p in client.elicitations], ["Who are you?", "Really?"], self.diagnostics())
        schema = client.elicitations[0].requestedSchema
        self.assertEqual(sorted(schema["properties"]), ["confirmed", "name"])
        self.assertFalse(accepted.isError, "ask_user failed: %r\n%s" % (texts(accepted), self.diagnostics()))
        self.assertEqual(texts(accepted), ["accepted: name=Ada confirmed=True"])
        self.assertEqual(texts(declined), ["declined"])
        self.assert_audited(user="eve", org=ORG, server=SERVER, method="tools/call", tool="ask_user",
                            decision="allow")
        self.assert_call_was_streamed("ask_user")

    def _progress(self, client):
        progress = []

        async def on_progress(value, total, message):
            progress.append((value, total, message))

        async def body():
            async with self.connect(client) as session:
                return await self.call(session, "count", {"n": 5}, progress_callback=on_progress)

        result = self.run_async(body, timeout=3 * WAIT)
        self.assertFalse(result.isError, "count failed: %r\n%s" % (texts(result), self.diagnostics()))
        self.assertEqual(texts(result), ["counted 5"])
        self.assertEqual(progress, [(float(i), 5.0, None) for i in range(1, 6)],
                         "progress notifications the client received\n%s" % self.diagnostics())
        self.assert_audited(user="eve", org=ORG, server=SERVER, method="tools/call", tool="count",
                            decision="allow")
        self.assert_call_was_streamed("count")

    def test_progress_notifications_round_trip_through_the_gateway(self):
        # A session without sampling/elicitation: the progressToken alone makes the reply a stream.
        self._progress(client=None)

    def test_progress_notifications_round_trip_with_sampling_and_elicitation_declared(self):
        self._progress(client=Client())


class StreamableHTTP(InteractiveCase):
    transport = "streamable-http"


class LegacySSE(InteractiveCase):
    transport = "sse"


del InteractiveCase  # only the concrete transports run

if __name__ == "__main__":
    print("mcp %s" % importlib.metadata.version("mcp"), file=sys.stderr)
    unittest.main()
