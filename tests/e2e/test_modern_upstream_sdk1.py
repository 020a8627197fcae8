"""End-to-end: the official MCP Python SDK 1.x `ClientSession` (handshake era only) as a client of
a 2026-07-28 server (modern_upstream.py, written with the SDK 2.3's `MCPServer`) behind `orch serve`.

The gateway answers the client's initialize from the server's server/discover result and adds the
2026-07-28 envelope (the client's capabilities and identity) to each of its requests.

The server runs under the SDK 2.x venv's python, given as ORCH_MCP2_PYTHON (tests/e2e/run.sh sets it).
Run with the 1.x venv:  cd tests/e2e && ORCH_MCP2_PYTHON=../../.venv-mcp2/bin/python ../../.venv-mcp1/bin/python test_modern_upstream_sdk1.py -v
"""
import asyncio
import os
import sys
import unittest

import httpx
from mcp import ClientSession, types

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from mcp_fixtures import CALLER, ORG, WAIT, GatewayTestCase, policy  # noqa: E402
from test_mcp_sdk1 import open_streamable_http  # noqa: E402

MCP2_PYTHON = os.environ.get("ORCH_MCP2_PYTHON", "")


class ModernUpstream(GatewayTestCase):
    def setUp(self):
        self.assertTrue(MCP2_PYTHON, "set ORCH_MCP2_PYTHON to a python with mcp>=2 (tests/e2e/run.sh does)")
        upstream = {"command": MCP2_PYTHON, "args": [os.path.join(HERE, "modern_upstream.py")]}
        self.document = policy(extra_servers={"modern": upstream},
                               extra_allow=["modern:echo", "modern:touch", "modern:resources/note://a"])
        super().setUp()

    def test_a_handshake_era_client_is_served_by_a_2026_07_28_server(self):
        async def body():
            headers = {"Authorization": "Bearer " + CALLER}
            url = self.gateway.url("modern", "mcp", ORG)
            async with open_streamable_http(url, headers, self.http_client_factory) as (read, write, get_session_id):
                async with ClientSession(read, write) as session:
                    initialized = await session.initialize()
                    tools = await session.list_tools()
                    echoed = await session.call_tool("echo", {"text": "one"})
                    await session.send_ping()
                    return initialized, [t.name for t in tools.tools], echoed

        initialized, tools, echoed = self.run_async(body, timeout=3 * WAIT)
        self.assertEqual(initialized.serverInfo.name, "modern-upstream", self.diagnostics())
        self.assertEqual(tools, ["echo", "touch"], self.diagnostics())
        self.assertEqual([c.text for c in echoed.content], ["one"], self.diagnostics())
        self.assertFalse(echoed.isError)

    def test_a_handshake_era_clients_resource_subscription_is_served_on_the_gateways_listen(self):
        # The era has no resources/subscribe: the gateway answers it and names the resource in its
        # own subscriptions/listen to the server, whose updates reach the client's stream.
        async def body():
            updates = []

            async def on_message(message):
                if isinstance(message, types.ServerNotification) and isinstance(message.root, types.ResourceUpdatedNotification):
                    updates.append(str(message.root.params.uri))

            headers = {"Authorization": "Bearer " + CALLER}
            url = self.gateway.url("modern", "mcp", ORG)
            async with open_streamable_http(url, headers, self.http_client_factory) as (read, write, get_session_id):
                async with ClientSession(read, write, message_handler=on_message) as session:
                    initialized = await session.initialize()
                    await session.subscribe_resource("note://a")
                    touched = await session.call_tool("touch", {"uri": "note://a"})
                    for _ in range(200):
                        if updates:
                            break
                        await asyncio.sleep(0.05)
                    await session.unsubscribe_resource("note://a")
                    return initialized, touched, updates

        initialized, touched, updates = self.run_async(body, timeout=3 * WAIT)
        self.assertTrue(initialized.capabilities.resources.subscribe, self.diagnostics())
        self.assertEqual([c.text for c in touched.content], ["touched note://a"], self.diagnostics())
        self.assertEqual(updates, ["note://a"], self.diagnostics())


if __name__ == "__main__":
    unittest.main()
