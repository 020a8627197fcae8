"""End-to-end: three `orch serve` replicas sharing a gateway.stateKey behind a real nginx with
samples/nginx/round-robin.conf, no session affinity (docs/guide/replicas.md).

Run with the 1.x venv:  .venv-mcp1/bin/python tests/e2e/test_replicas_sdk1.py
The official MCP Python SDK 1.x (`mcp<2`) client makes 200 calls in one Streamable HTTP session
while the replica that opened it is killed with SIGKILL half way; wrk loads the cluster through
nginx; a revocation reaches every replica; an id carried by hand between replicas works, a
tampered one does not, and a stateful server's session stays where it was opened.
"""
import os
import re
import signal
import subprocess
import sys
import unittest

import anyio
from mcp import ClientSession
from mcp.shared._httpx_utils import create_mcp_http_client

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from orchserver import ROOT  # noqa: E402
from replica_fixtures import INITIALIZE, OTHER_TOKEN, USER_TOKEN, WAIT, Cluster, call, policy, post  # noqa: E402
from test_mcp_sdk1 import open_streamable_http  # noqa: E402

INITIALIZED = {"jsonrpc": "2.0", "method": "notifications/initialized"}
LIST = {"jsonrpc": "2.0", "id": 3, "method": "tools/list"}


class ReplicaCase(unittest.TestCase):
    document = None

    def setUp(self):
        self.cluster = Cluster(self.document)
        self.addCleanup(self.cluster.close)

    def run_async(self, fn, timeout=120):
        async def bounded():
            with anyio.fail_after(timeout):
                return await fn()
        try:
            return anyio.run(bounded)
        except AssertionError as error:
            raise AssertionError("%s\n%s" % (error, self.cluster.diagnostics())) from error

    def wait_until(self, condition, what):
        import time
        deadline = time.time() + WAIT
        while time.time() < deadline:
            if condition():
                return
            time.sleep(0.05)
        self.fail("timed out waiting for %s\n%s" % (what, self.cluster.diagnostics()))

    def open_direct(self, replica, server="notes", token=USER_TOKEN):
        url = "%s/orgs/acme/servers/%s/mcp" % (replica.base, server)
        status, headers, body = post(url, INITIALIZE, token=token)
        self.assertEqual(status, 200, body)
        session = headers["Mcp-Session-Id"]
        self.assertEqual(post(url, INITIALIZED, token=token, session=session)[0], 202)
        return session


class RoundRobinTests(ReplicaCase):
    def test_a_session_outlives_the_replica_that_opened_it(self):
        cluster = self.cluster
        outcomes = []

        async def run():
            headers = {"Authorization": "Bearer " + USER_TOKEN}
            async with open_streamable_http(cluster.url(), headers, create_mcp_http_client) as (read, write, session_id):
                async with ClientSession(read, write) as session:
                    await session.initialize()
                    sid = session_id()
                    self.wait_until(lambda: cluster.opener_of(sid) is not None, "the audit record of the initialize")
                    opener = cluster.opener_of(sid)
                    for index in range(200):
                        if index == 100:
                            opener.process.send_signal(signal.SIGKILL)
                            opener.process.wait()
                        result = await session.call_tool("echo", {"text": "call %d" % index})
                        outcomes.append((index, result.isError, result.content[0].text if result.content else None))
                    return sid, opener

        sid, opener = self.run_async(run)
        failed = [o for o in outcomes if o[1] or o[2] != "call %d" % o[0]]
        self.assertEqual(failed, [], "calls that did not succeed")
        self.assertEqual(len(outcomes), 200)
        survivors = [r for r in cluster.replicas if r is not opener]
        served = {}
        for replica in cluster.replicas:
            served[replica.base] = sum(1 for r in cluster.audit(replica) if r.get("session") == sid and r.get("method") == "tools/call")
        # Round-robin: every replica served calls of the session, the two left all of the last 100.
        for replica in cluster.replicas:
            self.assertGreater(served[replica.base], 0, "%s served none of the calls: %s" % (replica.base, served))
        self.assertGreaterEqual(sum(served[r.base] for r in survivors), 100, served)
        for replica in survivors:
            self.assertTrue(any("re-created" in r.get("reason", "") for r in cluster.audit(replica) if r.get("session") == sid),
                            "%s did not re-create the session" % replica.base)

    def test_wrk_through_nginx_fails_no_call(self):
        cluster = self.cluster
        status, headers, body = post(cluster.url(), INITIALIZE)
        self.assertEqual(status, 200, body)
        session = headers["Mcp-Session-Id"]
        self.assertEqual(post(cluster.url(), INITIALIZED, session=session)[0], 202)
        env = dict(os.environ, MCP_SESSION=session, MCP_TOKEN=USER_TOKEN)
        run = subprocess.run(["wrk", "-t2", "-c8", "-d3s", "-s", os.path.join(ROOT, "bench", "mcp-call.lua"), cluster.url()],
                             env=env, capture_output=True, text=True, timeout=60)
        self.assertEqual(run.returncode, 0, run.stderr)
        calls = int(re.search(r"(\d+) requests in", run.stdout).group(1))
        self.assertGreater(calls, 100, run.stdout)
        self.assertIn("failed_calls 0 ", run.stdout)
        self.assertNotIn("Non-2xx", run.stdout)
        self.assertNotIn("Socket errors", run.stdout)

    def test_an_id_moved_by_hand_works_and_a_tampered_one_is_refused_without_an_upstream(self):
        first, second, third = self.cluster.replicas
        session = self.open_direct(first)
        url = "%s/orgs/acme/servers/notes/mcp" % second.base
        status, _, body = post(url, call("echo", {"text": "moved"}), session=session)
        self.assertEqual(status, 200)
        self.assertEqual(body["result"]["content"][0]["text"], "moved")
        middle = len(session) // 2
        tampered = session[:middle] + ("A" if session[middle] != "A" else "B") + session[middle + 1:]
        children = third.child_pids()
        for refused in (tampered, session[:-8], "0123456789abcdef0123456789abcdef"):
            status, _, _ = post("%s/orgs/acme/servers/notes/mcp" % third.base, LIST, session=refused)
            self.assertEqual(status, 404)
        self.assertEqual(third.child_pids(), children, "a refused id started an upstream")
        # Another user's token with bob's id: refused too.
        self.assertEqual(post("%s/orgs/acme/servers/notes/mcp" % third.base, LIST, token=OTHER_TOKEN, session=session)[0], 404)

    def test_a_stateful_servers_session_is_refused_where_it_is_not_held(self):
        first, second, _ = self.cluster.replicas
        session = self.open_direct(first, server="browser")
        self.assertEqual(post("%s/orgs/acme/servers/browser/mcp" % second.base, LIST, session=session)[0], 404)
        self.assertEqual(post("%s/orgs/acme/servers/browser/mcp" % first.base, LIST, session=session)[0], 200)

    def test_a_revocation_reaches_every_replica(self):
        cluster = self.cluster
        session = self.open_direct(cluster.replicas[0])
        for replica in cluster.replicas:
            self.assertEqual(post("%s/orgs/acme/servers/notes/mcp" % replica.base, LIST, session=session)[0], 200)
        cluster.write(policy(bob=False))
        for replica in cluster.replicas:
            self.wait_until(lambda: post("%s/orgs/acme/servers/notes/mcp" % replica.base, LIST, session=session)[0] == 401,
                            "%s to refuse the revoked key" % replica.base)
        statuses = {post(cluster.url(), LIST, session=session)[0] for _ in range(6)}
        self.assertEqual(statuses, {401})
        # carol's key was not revoked: her requests still reach every replica.
        self.assertEqual({post(cluster.url(), INITIALIZE, token=OTHER_TOKEN)[0] for _ in range(3)}, {200})



class ForeignKeyTests(unittest.TestCase):
    def test_a_replica_with_another_state_key_refuses_the_ids_and_says_so_once(self):
        import base64
        import secrets as random
        from replica_fixtures import STATE_KEY
        cluster = Cluster(count=2, state_keys=[STATE_KEY, base64.b64encode(random.token_bytes(32)).decode()])
        self.addCleanup(cluster.close)
        first, other = cluster.replicas
        status, headers, _ = post("%s/orgs/acme/servers/notes/mcp" % first.base, INITIALIZE)
        self.assertEqual(status, 200)
        session = headers["Mcp-Session-Id"]
        for _ in range(3):
            self.assertEqual(post("%s/orgs/acme/servers/notes/mcp" % other.base, LIST, session=session)[0], 404)
        other.wait_for_log(r"sealed with a gateway.stateKey this replica does not have \(key [0-9a-f]{8}\)")
        lines = [line for line in other.output.collect() if "sealed with a gateway.stateKey this replica does not have" in line]
        self.assertEqual(len(lines), 1, lines)


class SampleCase(ReplicaCase):
    sample = None

    def setUp(self):
        self.cluster = Cluster(self.document, sample=self.sample)
        self.addCleanup(self.cluster.close)


class ByUserTests(SampleCase):
    sample = "by-user.conf"

    def test_each_users_requests_reach_one_replica(self):
        cluster = self.cluster
        for token in (USER_TOKEN, OTHER_TOKEN):
            status, headers, _ = post(cluster.url(), INITIALIZE, token=token)
            self.assertEqual(status, 200)
            session = headers["Mcp-Session-Id"]
            for index in range(10):
                self.assertEqual(post(cluster.url(), call("echo", {"text": str(index)}), token=token, session=session)[0], 200)
            serving = [r.base for r in cluster.replicas
                       if any(a.get("session") == session and a.get("method") == "tools/call" for a in cluster.audit(r))]
            self.assertEqual(len(serving), 1, "the calls of one user went to %s" % serving)


class LegacySSETests(SampleCase):
    sample = "legacy-sse.conf"

    def test_a_legacy_sse_client_is_served_through_the_recipe(self):
        from mcp.client.sse import sse_client

        async def run():
            headers = {"Authorization": "Bearer " + USER_TOKEN}
            async with sse_client(self.cluster.url(transport="sse"), headers=headers, timeout=WAIT) as (read, write):
                async with ClientSession(read, write) as session:
                    await session.initialize()
                    for index in range(20):
                        result = await session.call_tool("echo", {"text": "sse %d" % index})
                        self.assertEqual(result.content[0].text, "sse %d" % index)

        self.run_async(run)



class PerUserLimitTests(SampleCase):
    """Routed by user, so each user's limits are exact across the replicas."""
    sample = "by-user.conf"
    document = policy(limits={"perUser": {"toolCallsPerMinute": 5}})

    def test_over_the_limit_the_sdk_raises_the_error_naming_it_and_another_user_is_unaffected(self):
        from mcp.shared.exceptions import McpError

        async def calls(token):
            outcomes = []
            headers = {"Authorization": "Bearer " + token}
            async with open_streamable_http(self.cluster.url(), headers, create_mcp_http_client) as (read, write, _):
                async with ClientSession(read, write) as session:
                    await session.initialize()
                    for index in range(6):
                        try:
                            result = await session.call_tool("echo", {"text": str(index)})
                            outcomes.append(result.content[0].text)
                        except McpError as error:
                            outcomes.append((error.error.code, error.error.data, error.error.message))
            return outcomes

        bob = self.run_async(lambda: calls(USER_TOKEN))
        self.assertEqual(bob[:5], ["0", "1", "2", "3", "4"])
        code, data, message = bob[5]
        self.assertEqual(code, -32000)
        self.assertEqual(data["limit"], "perUser.toolCallsPerMinute")
        self.assertGreaterEqual(data["retryAfterSeconds"], 1)
        self.assertIn("perUser.toolCallsPerMinute", message)
        # carol's calls are her own: the first five pass.
        self.assertEqual(self.run_async(lambda: calls(OTHER_TOKEN))[:5], ["0", "1", "2", "3", "4"])


class ConcurrencyLimitTests(SampleCase):
    sample = "by-user.conf"
    document = policy(slow_limits={"concurrentCalls": 2})

    def test_concurrent_calls_are_never_exceeded_under_parallel_calls_to_a_slow_upstream(self):
        import concurrent.futures
        url = self.cluster.url("slow")
        sessions = []
        for _ in range(4):
            status, headers, _ = post(url, INITIALIZE)
            self.assertEqual(status, 200)
            sessions.append(headers["Mcp-Session-Id"])
        with concurrent.futures.ThreadPoolExecutor(12) as pool:
            replies = list(pool.map(lambda i: post(url, call("echo", {"text": str(i), "delayMs": 600}, id=i), session=sessions[i % 4]),
                                    range(12)))
        passed = [body for status, _, body in replies if status == 200 and "result" in body]
        refused = [body for status, _, body in replies if status == 200 and body.get("error", {}).get("data", {}).get("limit") == "acme/slow.concurrentCalls"]
        self.assertGreaterEqual(len(passed), 1)
        self.assertLessEqual(len(passed), 2, replies)
        self.assertEqual(len(passed) + len(refused), 12, replies)
        # The places come back with the replies.
        self.assertIn("result", post(url, call("echo", {"text": "after"}), session=sessions[0])[2])


if __name__ == "__main__":
    unittest.main()
