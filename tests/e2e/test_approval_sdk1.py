"""End-to-end: approval enforced by the gateway (`approve` rules), with the official MCP Python SDK 1.x.

Run with the 1.x venv:  cd tests/e2e && ../../.venv-mcp1/bin/python test_approval_sdk1.py -v

acme/remote is remote_upstream.py (FastMCP over Streamable HTTP), which records every tool it runs:
the proof that nothing ran unapproved. Its `shout` needs the caller's approval (`by: "caller"`,
`text` redacted in the question, 2 s to answer); `secret_admin` needs a role's, which this version
does not ask for, so it is refused. The SDK client's real elicitation callback answers the
gateway's form: accept with approve true runs the call; decline, approve false, an answer that is
not the form's, and no answer in time each end in a tool error saying so, with nothing run; a
client that declared no elicitation is refused (-32602). A raw 2026-07-28 client gets the question
as `input_required` with a sealed `requestState`; its retry runs the call once (other arguments,
the same state again or a forged one are asked again), a decline runs nothing, and an envelope
without elicitation is refused (-32021). The aggregated endpoints (/orgs/acme/mcp, /mcp) ask the
same way. Each question and answer is audited.
"""
import datetime
import json
import os
import secrets
import sys
import time
import unittest

import anyio
from mcp import ClientSession, types
from mcp.shared.exceptions import McpError

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from test_mcp_sdk1 import open_streamable_http  # noqa: E402
from mcp_fixtures import ADMIN, CALLER, ORG, WAIT, GatewayTestCase, RemoteUpstream, policy  # noqa: E402
from dashboard_browser import fetch  # noqa: E402


class ApprovalTest(GatewayTestCase):
    def setUp(self):
        self.folder = os.path.join(os.environ.get("TMPDIR", "/tmp"), "orch-e2e-approval-%s" % secrets.token_hex(4))
        os.makedirs(self.folder)
        self.key = "upstream-key-" + secrets.token_hex(8)
        self.upstream = RemoteUpstream(self.key, os.path.join(self.folder, "requests.jsonl"))
        self.addCleanup(self.upstream.stop)
        document = policy(extra_servers={"remote": {
            "url": self.upstream.url, "headers": {"X-Upstream-Key": "${env:UPSTREAM_KEY}"},
            "approve": [{"tools": ["shout"], "by": "caller", "timeoutSeconds": 2, "redact": ["text"]},
                        {"tools": ["secret_admin"], "by": "role:admin"}],
        }}, extra_allow=["remote"])
        self.document = document
        self.env = {"UPSTREAM_KEY": self.key}
        super().setUp()

    def ran(self, tool):
        return [r for r in self.upstream.records() if r["kind"] == "tool" and r["name"] == tool]

    def call(self, tool, arguments, answer=None, url=None, key=CALLER):
        """Calls `tool` in a session whose elicitation callback is `answer` (None: none declared):
        (the result or the McpError's error, the questions asked)."""
        asked = []

        async def elicit(context, params):
            asked.append(params)
            return await answer(params)

        async def run():
            async with open_streamable_http(url or self.gateway.url("remote"), {"Authorization": "Bearer " + key},
                                            self.http_client_factory) as (read, write, _):
                async with ClientSession(read, write, read_timeout_seconds=datetime.timedelta(seconds=WAIT),
                                         elicitation_callback=elicit if answer else None) as session:
                    await session.initialize()
                    try:
                        return await session.call_tool(tool, arguments)
                    except McpError as error:
                        return error.error
        return self.run_async(run), asked

    @staticmethod
    def answering(action, content=None, delay=0):
        async def answer(params):
            if delay:
                await anyio.sleep(delay)
            return types.ElicitResult(action=action, content=content)
        return answer

    def approvals(self, outcome):
        return [r for r in self.gateway.audit_records() if r["reason"].startswith("approval: ") and r["tool"] == "shout"
                and r["decision"] == outcome]

    def test_an_approved_call_runs_once(self):
        result, asked = self.call("shout", {"text": "merge it"}, self.answering("accept", {"approve": True}))
        self.assertFalse(result.isError, result)
        self.assertEqual(result.content[0].text, "MERGE IT!")
        self.assertEqual(len(asked), 1)
        question = asked[0]
        self.assertIn("Approve acme/remote shout", question.message)
        self.assertIn("text: •••", question.message)
        self.assertNotIn("merge it", question.message)
        self.assertEqual(question.requestedSchema["required"], ["approve"])
        self.assertEqual(question.requestedSchema["properties"]["approve"]["type"], "boolean")
        self.assertEqual(len(self.ran("shout")), 1)
        self.assertEqual([r["reason"] for r in self.approvals("allow")], ["approval: eve (the caller) approved"])
        status, _, metrics = fetch(self.gateway.base + "/metrics")
        self.assertIn('orch_approvals_total{outcome="approved"} 1', metrics)

    def test_a_declined_call_never_runs(self):
        cases = [
            (self.answering("decline"), "declined by eve"),
            (self.answering("cancel"), "cancelled by eve"),
            (self.answering("accept", {"approve": False}), "declined by eve"),
            (self.answering("accept", {"approve": "yes"}), "the answer does not match the question (one boolean, approve) by eve"),
            (self.answering("accept", {"approve": True}, delay=3), "not given within 2 s by eve"),
        ]
        for answer, why in cases:
            result, asked = self.call("shout", {"text": "no"}, answer)
            self.assertTrue(result.isError, result)
            self.assertEqual(result.content[0].text, "The call of acme/remote shout did not run: the approval was %s." % why)
            self.assertEqual(len(asked), 1)
        time.sleep(1.5)  # the late answer of the last case arrives and is dropped
        self.assertEqual(self.ran("shout"), [], "a declined call ran")
        self.assertEqual(len(self.approvals("deny")), len(cases))
        calls = [r for r in self.gateway.audit_records() if r["tool"] == "shout" and not r["reason"].startswith("approval: ")]
        self.assertTrue(calls and all(r["reason"].endswith("(the call failed)") for r in calls), calls)

    def test_a_client_that_cannot_be_asked_is_refused(self):
        error, _ = self.call("shout", {"text": "x"})
        self.assertEqual(error.code, -32602)
        self.assertIn("needs the caller's approval, and this client cannot be asked: it declared no elicitation", error.message)
        # A rule of a role: not asked in this version, never run.
        error, asked = self.call("secret_admin", {}, self.answering("accept", {"approve": True}), key=ADMIN)
        self.assertEqual(error.code, -32602)
        self.assertIn("needs the approval of someone holding role admin", error.message)
        self.assertEqual(asked, [])
        # A 2026-07-28 request that declares no elicitation: -32021 naming it.
        status, answer = self.modern({"text": "x"}, capabilities={})
        self.assertEqual((status, answer["error"]["code"], answer["error"]["data"]), (400, -32021, {"requiredCapabilities": ["elicitation"]}), answer)
        self.assertEqual(self.ran("shout") + self.ran("secret_admin"), [], "a call needing approval ran")

    def test_the_aggregated_endpoints_ask_too(self):
        for runs, url in enumerate(("%s/orgs/%s/mcp" % (self.gateway.base, ORG), self.gateway.base + "/mcp")):
            name = "remote__shout" if url.endswith("/orgs/acme/mcp") else "acme__remote__shout"
            result, asked = self.call(name, {"text": "no"}, self.answering("decline"), url=url)
            self.assertTrue(result.isError, result)
            self.assertEqual(len(asked), 1)
            self.assertIn("Approve acme/remote shout", asked[0].message)
            self.assertEqual(len(self.ran("shout")), runs, "a declined call ran")
            result, asked = self.call(name, {"text": "yes"}, self.answering("accept", {"approve": True}), url=url)
            self.assertEqual(result.content[0].text, "YES!", result)
        self.assertEqual(len(self.ran("shout")), 2)
        error, _ = self.call("remote__shout", {"text": "x"}, url="%s/orgs/%s/mcp" % (self.gateway.base, ORG))
        self.assertEqual(error.code, -32602)
        self.assertEqual(len(self.ran("shout")), 2)

    def modern(self, arguments, capabilities=None, state=None, answer=None):
        """A raw 2026-07-28 tools/call of shout: (HTTP status, JSON answer)."""
        params = {"name": "shout", "arguments": arguments,
                  "_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
                            "io.modelcontextprotocol/clientCapabilities": {"elicitation": {}} if capabilities is None else capabilities,
                            "io.modelcontextprotocol/clientInfo": {"name": "e2e", "version": "1"}}}
        if state is not None:
            params["requestState"] = state
            params["inputResponses"] = {"approve": answer}
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": params}).encode()
        status, _, text = fetch(self.gateway.url("remote"), method="POST", data=body, headers={
            "Authorization": "Bearer " + CALLER, "Content-Type": "application/json", "Accept": "application/json, text/event-stream",
            "MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/call", "Mcp-Name": "shout"})
        return status, json.loads(text)

    def test_a_2026_07_28_client_approves_through_the_retry(self):
        status, first = self.modern({"text": "ship"})
        self.assertEqual(status, 200, first)
        result = first["result"]
        self.assertEqual(result["resultType"], "input_required", result)
        question = result["inputRequests"]["approve"]
        self.assertEqual(question["method"], "elicitation/create")
        self.assertIn("Approve acme/remote shout", question["params"]["message"])
        self.assertIn("text: •••", question["params"]["message"])
        state = result["requestState"]
        yes = {"action": "accept", "content": {"approve": True}}
        # Other arguments with this state: asked again, nothing runs.
        status, other = self.modern({"text": "something else"}, state=state, answer=yes)
        self.assertEqual(other["result"]["resultType"], "input_required", other)
        self.assertEqual(self.ran("shout"), [])
        # The retry that answers: runs, once.
        status, done = self.modern({"text": "ship"}, state=state, answer=yes)
        self.assertEqual(done["result"]["content"][0]["text"], "SHIP!", done)
        self.assertEqual(len(self.ran("shout")), 1)
        # The same state again: asked again, not run a second time.
        status, again = self.modern({"text": "ship"}, state=state, answer=yes)
        self.assertEqual(again["result"]["resultType"], "input_required", again)
        self.assertEqual(len(self.ran("shout")), 1)
        # A forged state: asked again.
        status, forged = self.modern({"text": "ship"}, state=state[:-4] + "AAAA", answer=yes)
        self.assertEqual(forged["result"]["resultType"], "input_required", forged)
        # A decline: a tool error, nothing run.
        status, first = self.modern({"text": "no"})
        status, declined = self.modern({"text": "no"}, state=first["result"]["requestState"], answer={"action": "decline"})
        self.assertTrue(declined["result"]["isError"], declined)
        self.assertIn("the approval was declined by eve", declined["result"]["content"][0]["text"])
        self.assertEqual(len(self.ran("shout")), 1)
        reasons = [r["reason"] for r in self.approvals("allow") + self.approvals("deny")]
        self.assertIn("approval: asked again: the requestState was used already of eve (the caller)", reasons)
        self.assertIn("approval: asked again: the requestState was for another call of eve (the caller)", reasons)


if __name__ == "__main__":
    unittest.main()
