"""End-to-end: per-user upstream credentials (`${user:NAME}`) with the official MCP Python SDK 1.x.

Run with the 1.x venv:  cd tests/e2e && ../../.venv-mcp1/bin/python test_user_secrets_sdk1.py -v

acme/personal is `orch sample-server --env-tool` with `PERSONAL_TOKEN: ${user:PERSONAL_TOKEN}` in
its env; its env_hash tool answers the SHA-256 of a variable, never the value. acme/remote is a
FastMCP server over Streamable HTTP that records the headers it gets; the gateway sends it
`X-User-Token: ${user:REMOTE_TOKEN}`. The secrets are files secrets/USER/NAME (mode 0600) in the
test's folder. eve and ada each see their own values; dan, without secrets, is refused with a
message naming the secret and where it goes; a file with mode 0644 is refused; rotating a file
ends that user's session and the next one runs with the new value; no value appears in the
gateway's log, audit log or API answers.
"""
import contextlib
import datetime
import hashlib
import json
import os
import secrets
import shutil
import stat
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.request

from mcp import ClientSession
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.exceptions import McpError

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from test_mcp_sdk1 import open_streamable_http  # noqa: E402
from mcp_fixtures import ADMIN, CALLER, ORCH, ORG, WAIT, GatewayTestCase, RemoteUpstream, policy, sha256  # noqa: E402

DAN = "orch_" + secrets.token_urlsafe(32)  # dan: in acme, no secrets at all


def sha(text):
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


class UserSecretsTest(GatewayTestCase):
    def setUp(self):
        self.folder = tempfile.mkdtemp(prefix="orch-e2e-secrets-")
        self.addCleanup(lambda: shutil.rmtree(self.folder, ignore_errors=True))
        self.secrets_dir = os.path.join(self.folder, "secrets")
        self.values = {}
        for user in ("eve", "ada"):
            for name in ("PERSONAL_TOKEN", "REMOTE_TOKEN"):
                self.set_secret(user, name, "%s-%s-%s" % (user, name.lower(), secrets.token_hex(8)))
        self.key = "upstream-key-" + secrets.token_hex(8)
        self.upstream = RemoteUpstream(self.key, os.path.join(self.folder, "requests.jsonl"))
        self.addCleanup(self.upstream.stop)
        document = policy(extra_servers={
            "personal": {"command": ORCH, "args": ["sample-server", "--env-tool"], "env": {"PERSONAL_TOKEN": "${user:PERSONAL_TOKEN}"}},
            "remote": {"url": self.upstream.url,
                       "headers": {"X-Upstream-Key": "${env:UPSTREAM_KEY}", "X-User-Token": "${user:REMOTE_TOKEN}"}},
        }, extra_allow=["personal", "remote"])
        document["gateway"]["secrets"] = self.secrets_dir
        document["orgs"][ORG]["members"]["dan"] = "caller"
        document["users"]["dan"] = {"keys": [{"id": "laptop", "sha256": sha256(DAN)}]}
        self.document = document
        self.env = {"UPSTREAM_KEY": self.key}
        super().setUp()

    def set_secret(self, user, name, value, mode=0o600):
        os.makedirs(os.path.join(self.secrets_dir, user), exist_ok=True)
        path = os.path.join(self.secrets_dir, user, name)
        temp = path + ".tmp"
        with open(os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
            f.write(value + "\n")
        os.chmod(temp, mode)
        os.replace(temp, path)
        self.values[(user, name)] = value

    @contextlib.asynccontextmanager
    async def connect(self, token, server):
        url = self.gateway.url(server)
        async with open_streamable_http(url, {"Authorization": "Bearer " + token}, self.factory) as (read, write, _):
            async with ClientSession(read, write, read_timeout_seconds=datetime.timedelta(seconds=WAIT)) as session:
                await session.initialize()
                yield session

    def factory(self, headers=None, timeout=None, auth=None):
        client = create_mcp_http_client(headers=headers, timeout=timeout, auth=auth)
        client.event_hooks["response"].append(self.http.hook)
        return client

    async def env_hash(self, token):
        async with self.connect(token, "personal") as session:
            result = await session.call_tool("env_hash", {"name": "PERSONAL_TOKEN"})
            return result.content[0].text

    def initialize(self, token, server="personal"):
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "e2e", "version": "1"}}}).encode()
        request = urllib.request.Request(self.gateway.url(server), data=body, method="POST", headers={
            "Authorization": "Bearer " + token, "Content-Type": "application/json", "Accept": "application/json, text/event-stream"})
        try:
            with urllib.request.urlopen(request, timeout=WAIT) as response:
                return response.status, response.headers, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, error.headers, json.loads(error.read())

    def assert_no_value_anywhere(self, *extra):
        texts = [self.gateway.log_text(), self.gateway.audit_text()] + list(extra)
        for (user, name), value in self.values.items():
            for text in texts:
                self.assertNotIn(value, text, "the value of %s's %s leaked" % (user, name))

    # cases ------------------------------------------------------------------------------------

    def test_each_user_runs_with_their_own_values(self):
        self.assertEqual(self.run_async(self.env_hash, CALLER), sha(self.values[("eve", "PERSONAL_TOKEN")]))
        self.assertEqual(self.run_async(self.env_hash, ADMIN), sha(self.values[("ada", "PERSONAL_TOKEN")]))

        async def shout(token):
            async with self.connect(token, "remote") as session:
                return (await session.call_tool("shout", {"text": "hi"})).content[0].text

        for user, token in (("eve", CALLER), ("ada", ADMIN)):
            before = len(self.upstream.records())
            self.assertEqual(self.run_async(shout, token), "HI!")
            # The gateway ends its upstream session (a DELETE with this user's headers) after the
            # client's session ends, asynchronously: wait for it, so the next user's requests are
            # counted from after it.
            deadline = time.monotonic() + WAIT
            while True:
                ended = [r for r in self.upstream.records()[before:] if r["kind"] == "request" and r["method"] == "DELETE"]
                if ended or time.monotonic() > deadline:
                    break
                time.sleep(0.05)
            sent = {v for r in self.upstream.records()[before:] if r["kind"] == "request" for k, v in r["headers"] if k == "x-user-token"}
            self.assertEqual(sent, {self.values[(user, "REMOTE_TOKEN")]}, "the remote got %r for %s" % (sent, user))
            self.assertEqual(len(ended), 1, ended)
        opened = self.audit_where(method="initialize", server="personal", user="eve")
        self.assertTrue(opened and opened[0]["reason"].endswith("; runs with eve's secrets PERSONAL_TOKEN"), opened)
        status, _, servers = self.gateway.server.request("/api/v1/servers", token=CALLER)
        personal = [s for s in servers["servers"] if s["id"] == "acme/personal"][0]
        self.assertEqual(personal["userSecrets"], [{"name": "PERSONAL_TOKEN", "present": True, "problem": None}])
        tools = self.gateway.server.request("/api/v1/tools?server=acme/personal", token=CALLER)[2]
        self.assertIn("env_hash", [t["name"] for t in tools["tools"]])
        self.assert_no_value_anywhere(json.dumps(servers), json.dumps(tools))

    def test_a_user_without_the_secret_or_with_an_open_file_is_refused(self):
        status, _, body = self.initialize(DAN)
        self.assertEqual(status, 403)
        self.assertEqual(body["error"]["code"], "missing_secret")
        self.assertEqual(body["error"]["message"],
                         "acme/personal runs with each user's own secrets, and dan has a problem with one: no secret PERSONAL_TOKEN: "
                         "an admin puts it in %s/dan/PERSONAL_TOKEN (mode 0600)" % self.secrets_dir)

        async def sdk_refused():
            with self.assertRaises(Exception):
                async with self.connect(DAN, "personal"):
                    pass

        self.run_async(sdk_refused)
        status, _, servers = self.gateway.server.request("/api/v1/servers", token=DAN)
        personal = [s for s in servers["servers"] if s["id"] == "acme/personal"][0]
        self.assertFalse(personal["userSecrets"][0]["present"])
        # eve's file becomes readable by everyone: refused, as ssh refuses an open key.
        self.set_secret("eve", "PERSONAL_TOKEN", self.values[("eve", "PERSONAL_TOKEN")], mode=0o644)
        status, _, body = self.initialize(CALLER)
        self.assertEqual(status, 403)
        self.assertTrue(body["error"]["message"].endswith("is readable by others (mode 0644): chmod 600 it"), body)
        self.assert_audited(user="dan", decision="deny", status=403, method="initialize")
        self.assert_no_value_anywhere(json.dumps(body), json.dumps(servers))

    def test_rotating_a_secret_ends_the_users_session_and_the_next_uses_the_new_value(self):
        status, headers, _ = self.initialize(CALLER)
        self.assertEqual(status, 200)
        session = headers["Mcp-Session-Id"]
        self.set_secret("eve", "PERSONAL_TOKEN", "eve-rotated-" + secrets.token_hex(8))
        self.wait_until(lambda: self.audit_where(method="session end", session=session), "the session's end after the rotation")
        end = self.audit_where(method="session end", session=session)[0]
        self.assertEqual(end["reason"], "eve's secret PERSONAL_TOKEN changed")
        self.assertEqual(self.run_async(self.env_hash, CALLER), sha(self.values[("eve", "PERSONAL_TOKEN")]))
        # ada's sessions are untouched by eve's rotation.
        self.assertEqual(self.run_async(self.env_hash, ADMIN), sha(self.values[("ada", "PERSONAL_TOKEN")]))
        self.assert_no_value_anywhere()


if __name__ == "__main__":
    unittest.main()
