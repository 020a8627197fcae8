"""End-to-end: approval enforced by the gateway (`approve` rules), with the official MCP Python SDK 1.x.

Run with the 1.x venv (chromium and chromium-driver installed for the browser test):
  cd tests/e2e && ../../.venv-mcp1/bin/python test_approval_sdk1.py -v

acme/remote is remote_upstream.py (FastMCP over Streamable HTTP), which records every tool it runs:
the proof that nothing ran unapproved. Its `shout` needs the caller's approval (`by: "caller"`,
`text` redacted in the question, 2 s to answer); `secret_admin` needs the approval of someone
holding role admin in acme (ada), on the dashboard, within 6 s: approved there (plain HTTP, and in
headless Chromium) it runs once, denied or left it does not; the caller's own call is never offered
to them, a POST without the CSRF token or by a user without the role in acme (oli) is refused, and a
progress token gets progress while the call waits. The SDK client's real elicitation callback answers the
gateway's form: accept with approve true runs the call; decline, approve false, an answer that is
not the form's, and no answer in time each end in a tool error saying so, with nothing run; a
client that declared no elicitation is refused (-32602). A raw 2026-07-28 client gets the question
as `input_required` with a sealed `requestState`; its retry runs the call once (other arguments,
the same state again or a forged one are asked again), a decline runs nothing, and an envelope
without elicitation is refused (-32021). The aggregated endpoints (/orgs/acme/mcp, /mcp) ask the
same way. Each question and answer is audited.
"""
import base64
import contextlib
import datetime
import json
import os
import re
import secrets
import sys
import threading
import time
import unittest

import anyio
from mcp import ClientSession, types
from mcp.client.sse import sse_client
from mcp.shared.exceptions import McpError

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from test_mcp_sdk1 import open_streamable_http  # noqa: E402
from mcp_fixtures import ADMIN, CALLER, ORG, OUTSIDER, WAIT, GatewayTestCase, RemoteUpstream, policy  # noqa: E402
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
                        {"tools": ["secret_admin"], "by": "role:admin", "timeoutSeconds": 6}],
        }}, extra_allow=["remote"])
        if getattr(self, "state_key", None):
            document["gateway"]["stateKey"] = "${env:ORCH_STATE_KEY}"
        self.document = document
        self.env = self.policy_env()
        super().setUp()

    def policy_env(self):
        return {"UPSTREAM_KEY": self.key}

    def ran(self, tool):
        return [r for r in self.upstream.records() if r["kind"] == "tool" and r["name"] == tool]

    def call(self, tool, arguments, answer=None, url=None, key=CALLER, sse=False):
        """Calls `tool` in a session whose elicitation callback is `answer` (None: none declared),
        over Streamable HTTP or legacy SSE: (the result or the McpError's error, the questions asked)."""
        asked = []

        async def elicit(context, params):
            asked.append(params)
            return await answer(params)

        @contextlib.asynccontextmanager
        async def streams():
            headers = {"Authorization": "Bearer " + key}
            if sse:
                async with sse_client(self.gateway.url("remote", "sse"), headers=headers, timeout=WAIT, sse_read_timeout=WAIT * 10,
                                      httpx_client_factory=self.http_client_factory) as (read, write):
                    yield read, write
            else:
                async with open_streamable_http(url or self.gateway.url("remote"), headers, self.http_client_factory) as (read, write, _):
                    yield read, write

        async def run():
            async with streams() as (read, write):
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

    def test_legacy_sse_sessions_are_asked_too(self):
        result, asked = self.call("shout", {"text": "old"}, self.answering("decline"), sse=True)
        self.assertTrue(result.isError, result)
        self.assertEqual(len(asked), 1)
        self.assertEqual(self.ran("shout"), [])
        result, asked = self.call("shout", {"text": "old"}, self.answering("accept", {"approve": True}), sse=True)
        self.assertEqual(result.content[0].text, "OLD!", result)
        self.assertEqual(len(self.ran("shout")), 1)

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

    # --- a role's approval, on the dashboard ---------------------------------------------------------

    def sign_in(self, key, base=None):
        from test_connected_accounts_sdk1 import Browser, csrf
        browser = Browser()
        base = base or self.gateway.base
        status, _, page = browser.get(base + "/ui/signin")
        status, _, _ = browser.post(base + "/ui/signin", {"key": key, "csrf": csrf(page)})
        self.assertEqual(status, 303)
        return browser

    def waiting(self, browser, timeout=WAIT, base=None):
        """The approvals page once a call waits on it: (page, call id, CSRF token)."""
        from test_connected_accounts_sdk1 import csrf
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status, _, page = browser.get((base or self.gateway.base) + "/ui/approvals")
            self.assertEqual(status, 200, page)
            found = re.search(r'id="approval-([0-9a-f]{32})"', page)
            if found:
                return page, found.group(1), csrf(page)
            time.sleep(0.1)
        self.fail("no call appeared on /ui/approvals within %d s" % timeout)

    def call_in_background(self, tool, arguments, key=CALLER, progress=None):
        """Starts a call on a thread: a function that waits for it and returns (result or error)."""
        outcome = {}

        async def run():
            async with open_streamable_http(self.gateway.url("remote"), {"Authorization": "Bearer " + key},
                                            self.http_client_factory) as (read, write, _):
                async with ClientSession(read, write, read_timeout_seconds=datetime.timedelta(seconds=WAIT)) as session:
                    await session.initialize()
                    try:
                        return await session.call_tool(tool, arguments, progress_callback=progress)
                    except McpError as error:
                        return error.error

        thread = threading.Thread(target=lambda: outcome.setdefault("value", self.run_async(run)))
        thread.start()

        def wait():
            thread.join(WAIT)
            return outcome.get("value")
        return wait

    def test_someone_holding_the_role_approves_or_denies_on_the_dashboard(self):
        ticks = []

        async def progress(value, total, message):
            ticks.append(message)
        ada = self.sign_in(ADMIN)
        done = self.call_in_background("secret_admin", {}, progress=progress)
        page, call, token = self.waiting(ada)
        self.assertIn("<td>eve</td>", page)
        self.assertIn("secret_admin", page)
        self.assertEqual(self.ran("secret_admin"), [], "the call ran before it was approved")
        time.sleep(2.5)  # a progress notification comes every 2 s
        # Refused, and the call still waits: no CSRF token, a user without the role.
        status, _, _ = ada.post(self.gateway.base + "/ui/approvals/decide", {"id": call, "decision": "approve"})
        self.assertEqual(status, 403)
        for key in (CALLER, OUTSIDER):  # eve's own call; oli holds admin in globex only
            other = self.sign_in(key)
            status, _, body = other.post(self.gateway.base + "/ui/approvals/decide", {"id": call, "decision": "approve", "csrf": self.csrf_of(other)})
            self.assertEqual(status, 403, body)
        self.assertEqual(self.ran("secret_admin"), [])
        status, _, _ = ada.post(self.gateway.base + "/ui/approvals/decide", {"id": call, "decision": "approve", "csrf": token})
        self.assertEqual(status, 303)
        result = done()
        self.assertEqual(result.content[0].text, "the admin secret is 42", result)
        self.assertEqual(len(self.ran("secret_admin")), 1)
        self.assertTrue(ticks and "waiting for the approval of someone holding role admin" in ticks[0], ticks)
        # A decided call is off the page; a second decision on it is refused.
        status, _, _ = ada.post(self.gateway.base + "/ui/approvals/decide", {"id": call, "decision": "deny", "csrf": token})
        self.assertEqual(status, 404)
        # Denied: a tool error, nothing run.
        done = self.call_in_background("secret_admin", {})
        page, call, token = self.waiting(ada)
        status, _, _ = ada.post(self.gateway.base + "/ui/approvals/decide", {"id": call, "decision": "deny", "csrf": token})
        result = done()
        self.assertTrue(result.isError, result)
        self.assertIn("the approval was denied by ada (role admin)", result.content[0].text)
        self.assertEqual(len(self.ran("secret_admin")), 1)
        reasons = [r["reason"] for r in self.gateway.audit_records() if r["reason"].startswith("approval: ")]
        self.assertTrue(any(r.startswith("approval: ada approved eve's call") for r in reasons), reasons)
        self.assertTrue(any(r.startswith("approval: eve may not approve their own call") for r in reasons), reasons)
        self.assertTrue(any(r.startswith("approval: oli does not hold role admin in acme") for r in reasons), reasons)

    def test_the_caller_never_approves_their_own_call_and_time_runs_out(self):
        ada = self.sign_in(ADMIN)
        done = self.call_in_background("secret_admin", {}, key=ADMIN)  # ada's own call
        status, _, page = ada.get(self.gateway.base + "/ui/approvals")
        deadline = time.monotonic() + WAIT
        while "own-approvals" not in page and time.monotonic() < deadline:
            time.sleep(0.1)
            status, _, page = ada.get(self.gateway.base + "/ui/approvals")
        self.assertIn("own-approvals", page)
        self.assertNotIn('id="approval-', page, "a caller was offered their own call")
        store = os.path.join(self.gateway.folder, "state", "approvals", "pending")
        (call,) = os.listdir(store)
        status, _, body = ada.post(self.gateway.base + "/ui/approvals/decide", {"id": call, "decision": "approve", "csrf": self.csrf_of(ada)})
        self.assertEqual(status, 403, body)
        result = done()
        self.assertTrue(result.isError, result)
        self.assertIn("not given within 6 s by anyone holding role admin", result.content[0].text)
        self.assertEqual(self.ran("secret_admin"), [])
        self.assertEqual(os.listdir(store), [], "the pending call's file stayed")

    def test_a_cancelled_call_leaves_the_list_and_never_runs(self):
        ada = self.sign_in(ADMIN)
        headers = {"Authorization": "Bearer " + CALLER, "Content-Type": "application/json", "Accept": "application/json"}

        def post(message, session=None):
            extra = {"Mcp-Session-Id": session, "MCP-Protocol-Version": "2025-11-25"} if session else {}
            return fetch(self.gateway.url("remote"), method="POST", data=json.dumps(message).encode(), headers=dict(headers, **extra))
        status, response, _ = post({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "e2e", "version": "1"}}})
        session = response["Mcp-Session-Id"]
        post({"jsonrpc": "2.0", "method": "notifications/initialized"}, session)
        outcome = {}
        thread = threading.Thread(target=lambda: outcome.setdefault("answer", post(
            {"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"name": "secret_admin", "arguments": {}}}, session)))
        thread.start()
        page, call, token = self.waiting(ada)
        status, _, _ = post({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 7, "reason": "changed my mind"}}, session)
        self.assertEqual(status, 202)
        thread.join(WAIT)
        status, _, body = outcome["answer"]
        self.assertEqual(json.loads(body)["error"]["code"], -32800, body)
        status, _, page = ada.get(self.gateway.base + "/ui/approvals")
        self.assertIn('id="no-approvals"', page)
        status, _, _ = ada.post(self.gateway.base + "/ui/approvals/decide", {"id": call, "decision": "approve", "csrf": token})
        self.assertEqual(status, 404)
        time.sleep(0.5)
        self.assertEqual(self.ran("secret_admin"), [])

    def csrf_of(self, browser):
        from test_connected_accounts_sdk1 import csrf
        return csrf(browser.get(self.gateway.base + "/ui/approvals")[2])

    def test_a_2026_07_28_call_waits_for_the_role_too(self):
        ada = self.sign_in(ADMIN)
        for decision, expected in (("approve", "the admin secret is 42"), ("deny", "the approval was denied by ada (role admin)")):
            outcome = {}
            thread = threading.Thread(target=lambda: outcome.setdefault("answer", self.modern({}, tool="secret_admin")))
            thread.start()
            page, call, token = self.waiting(ada)
            self.assertEqual(len(self.ran("secret_admin")), 0 if decision == "approve" else 1)
            status, _, _ = ada.post(self.gateway.base + "/ui/approvals/decide", {"id": call, "decision": decision, "csrf": token})
            self.assertEqual(status, 303)
            thread.join(WAIT)
            status, answer = outcome["answer"]
            self.assertEqual(status, 200, answer)
            self.assertEqual(answer["id"], 1)
            self.assertIn(expected, answer["result"]["content"][0]["text"], answer)
            self.assertEqual(answer["result"].get("isError", False), decision == "deny", answer)
            self.assertEqual(answer["result"]["resultType"], "complete", answer)
        self.assertEqual(len(self.ran("secret_admin")), 1)

    def modern(self, arguments, capabilities=None, state=None, answer=None, tool="shout", base=None):
        """A raw 2026-07-28 tools/call of `tool`: (HTTP status, JSON answer)."""
        params = {"name": tool, "arguments": arguments,
                  "_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
                            "io.modelcontextprotocol/clientCapabilities": {"elicitation": {}} if capabilities is None else capabilities,
                            "io.modelcontextprotocol/clientInfo": {"name": "e2e", "version": "1"}}}
        if state is not None:
            params["requestState"] = state
            params["inputResponses"] = {"approve": answer}
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": params}).encode()
        url = (base + "/orgs/%s/servers/remote/mcp" % ORG) if base else self.gateway.url("remote")
        status, _, text = fetch(url, method="POST", data=body, headers={
            "Authorization": "Bearer " + CALLER, "Content-Type": "application/json", "Accept": "application/json, text/event-stream",
            "MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/call", "Mcp-Name": tool})
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
        self.assertEqual(declined["result"]["resultType"], "complete", declined)
        self.assertIn("the approval was declined by eve", declined["result"]["content"][0]["text"])
        self.assertEqual(len(self.ran("shout")), 1)
        reasons = [r["reason"] for r in self.approvals("allow") + self.approvals("deny")]
        self.assertIn("approval: asked again: the requestState was used already of eve (the caller)", reasons)
        self.assertIn("approval: asked again: the requestState was for another call of eve (the caller)", reasons)


def only(*names):
    """A class decorator: of the tests it inherits, only its own `names` run in it."""
    def keep(cls):
        for base in cls.__mro__[1:]:
            for name in vars(base):
                if name.startswith("test_") and name not in names:
                    setattr(cls, name, None)
        return cls
    return keep


@only("test_an_approver_on_another_replica_decides_and_a_state_is_taken_once")
class ReplicaApprovalTest(ApprovalTest):
    """Two replicas on one folder and one stateKey: a call waiting on one is decided on the other,
    and a 2026-07-28 approval state taken on one is not taken again on the other."""

    def setUp(self):
        self.state_key = base64.b64encode(secrets.token_bytes(32)).decode()
        super().setUp()

    def policy_env(self):
        return {"UPSTREAM_KEY": self.key, "ORCH_STATE_KEY": self.state_key}

    def test_an_approver_on_another_replica_decides_and_a_state_is_taken_once(self):
        from orchserver import OrchServer
        other = OrchServer(self.gateway.path, env=self.policy_env())
        self.addCleanup(other.stop)
        ada = self.sign_in(ADMIN, base=other.base)
        done = self.call_in_background("secret_admin", {})
        page, call, token = self.waiting(ada, base=other.base)
        status, _, _ = ada.post(other.base + "/ui/approvals/decide", {"id": call, "decision": "approve", "csrf": token})
        self.assertEqual(status, 303)
        result = done()
        self.assertEqual(result.content[0].text, "the admin secret is 42", result)
        # The retry's state, taken here, is asked again there.
        status, first = self.modern({"text": "once"})
        yes = {"action": "accept", "content": {"approve": True}}
        status, done_here = self.modern({"text": "once"}, state=first["result"]["requestState"], answer=yes)
        self.assertEqual(done_here["result"]["content"][0]["text"], "ONCE!", done_here)
        status, there = self.modern({"text": "once"}, state=first["result"]["requestState"], answer=yes, base=other.base)
        self.assertEqual(there["result"]["resultType"], "input_required", there)
        self.assertEqual(len(self.ran("shout")), 1)



@only("test_an_approver_in_a_browser_approves_and_denies")
class BrowserApprovalTest(ApprovalTest):
    """An approver in headless Chromium: signs in with a key, sees the waiting call, approves one and denies another."""

    def test_an_approver_in_a_browser_approves_and_denies(self):
        from dashboard_browser import signed_in_chromium
        from selenium.webdriver.common.by import By

        driver, wait = signed_in_chromium(self, self.gateway.base, ADMIN)
        wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "a[href='/ui/approvals']")).click()
        wait.until(lambda d: d.find_element(By.ID, "no-approvals"))
        for button, expected in (("approve", "the admin secret is 42"), ("deny", "denied by ada (role admin)")):
            done = self.call_in_background("secret_admin", {})
            # The page reloads itself every 2 s: the call appears without a click.
            row = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "#approvals-table tbody tr"))
            self.assertIn("eve", row.text)
            self.assertIn("secret_admin", row.text)
            wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "#approvals-table button." + button)).click()
            wait.until(lambda d: d.find_elements(By.ID, "no-approvals"))
            result = done()
            self.assertIn(expected, result.content[0].text, result)
        self.assertEqual(len(self.ran("secret_admin")), 1)



if __name__ == "__main__":
    unittest.main()
