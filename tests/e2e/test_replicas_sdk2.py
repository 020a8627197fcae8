"""End-to-end: a client of MCP 2026-07-28 (the official MCP Python SDK 2.x `Client`, mode "auto")
through nginx round-robin in front of three replicas (replica_fixtures.py): no session at all, so
a replica killed with SIGKILL half way through 100 calls costs no call issued after it.

Run with the 2.x venv:  .venv-mcp2/bin/python tests/e2e/test_replicas_sdk2.py
"""
import os
import signal
import sys
import unittest

import anyio
import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from replica_fixtures import USER_TOKEN, WAIT, Cluster  # noqa: E402


class ModernRoundRobinTests(unittest.TestCase):
    def setUp(self):
        self.cluster = Cluster()
        self.addCleanup(self.cluster.close)

    def test_a_modern_client_needs_no_affinity_and_outlives_a_replica(self):
        cluster = self.cluster
        killed = cluster.replicas[0]
        outcomes = []

        async def run():
            headers = {"Authorization": "Bearer " + USER_TOKEN}
            async with httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(WAIT)) as http:
                async with Client(streamable_http_client(cluster.url(), http_client=http), read_timeout_seconds=WAIT) as client:
                    for index in range(100):
                        if index == 50:
                            killed.process.send_signal(signal.SIGKILL)
                            killed.process.wait()
                        result = await client.call_tool("echo", {"text": "modern %d" % index})
                        outcomes.append((index, result.is_error, result.content[0].text if result.content else None))

        try:
            anyio.run(run)
        except BaseException as error:
            raise AssertionError("%r\n%s" % (error, cluster.diagnostics())) from error
        self.assertEqual([o for o in outcomes if o[1] or o[2] != "modern %d" % o[0]], [])
        self.assertEqual(len(outcomes), 100)
        served = {r.base: sum(1 for a in cluster.audit(r) if a.get("method") == "tools/call") for r in cluster.replicas}
        for replica in cluster.replicas:
            self.assertGreater(served[replica.base], 0, served)
        # 2026-07-28 requests carry no client session: none was opened or re-created.
        for replica in cluster.replicas:
            self.assertFalse(any("re-created" in a.get("reason", "") for a in cluster.audit(replica)))


if __name__ == "__main__":
    unittest.main()
