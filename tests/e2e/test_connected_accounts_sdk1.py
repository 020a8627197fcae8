"""End-to-end: connected accounts, each user's own OAuth token for a remote server.

Run with the 1.x venv (chromium and chromium-driver installed for the browser test):
  cd tests/e2e && ../../.venv-mcp1/bin/python test_connected_accounts_sdk1.py -v

The peers are real: oauth_server.py (an Authlib authorization server that enforces PKCE S256, a
confidential client, the registered redirect URI, refresh-token rotation, revocation and resource
indicators, issuing RS256 JWT access tokens) and oauth_upstream.py (a FastMCP server with the SDK's
bearer middleware and RFC 9728 metadata, which checks each token's signature, issuer, audience,
expiry and scope, and answers `whoami` with the token's subject). acme/tickets is that server with
an `oauth` block pinned to the authorization server.

Covered: a user without an account initializes, lists nothing (the instructions name the connect
page) and is refused by URL elicitation (-32042) or, without it, an error naming the page, and the
audit says why; connecting in plain HTTP (eve) and in headless Chromium (ada), after which each
reaches the server as themselves, in the same session (told notifications/elicitation/complete);
refresh when the token is about to expire (rotation saved) and once after a 401 (a token response
without expires_in); a revoked grant (broken, refused with the page); Disconnect (revoked at the
provider, file removed); a restart with the same stateKey (still connected) and with another (not
connected, logged); bad callbacks (a forged state, the provider's error) store nothing; and no
token the authorization server issued appears in the gateway's log, audit log, API answers, client
configs or the stored files.
"""
import base64
import contextlib
import datetime
import html
import json
import os
import re
import secrets
import sys
import time
import unittest
import urllib.parse

from mcp import ClientSession, types
from mcp.shared.exceptions import McpError

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from test_mcp_sdk1 import open_streamable_http  # noqa: E402
from mcp_fixtures import ADMIN, CALLER, ORG, WAIT, GatewayTestCase, RemoteUpstream, policy  # noqa: E402
from dashboard_browser import fetch  # noqa: E402
from oauth_server import OAuthServer  # noqa: E402
from orchserver import OrchServer  # noqa: E402

CLIENT_ID = "orch-gateway"
CLIENT_SECRET = "client-secret-" + secrets.token_hex(12)
STATE_KEY = base64.b64encode(secrets.token_bytes(32)).decode()
OTHER_STATE_KEY = base64.b64encode(secrets.token_bytes(32)).decode()


class Upstream(RemoteUpstream):
    """oauth_upstream.py in a subprocess, trusting `oauth`'s tokens."""

    script, says = "oauth_upstream.py", "oauth upstream"

    def __init__(self, oauth, record_path):
        self.start(record_path, OAUTH_ISSUER=oauth.issuer, OAUTH_JWKS_URL=oauth.issuer + "/jwks")


class Browser:
    """Cookies by name, as a browser keeps them for the gateway (and the authorization server)."""

    def __init__(self):
        self.cookies = {}

    def keep(self, headers):
        for value in headers.get_all("Set-Cookie") or []:
            name, _, rest = value.partition("=")
            self.cookies[name] = rest.split(";", 1)[0]
            if not self.cookies[name]:
                del self.cookies[name]

    def get(self, url, **kwargs):
        status, headers, body = fetch(url, self.cookies, **kwargs)
        self.keep(headers)
        return status, headers, body

    def post(self, url, fields):
        return self.get(url, method="POST", data=urllib.parse.urlencode(fields).encode(),
                        headers={"Content-Type": "application/x-www-form-urlencoded"})


def csrf(page):
    return re.search(r'name="csrf" value="([^"]+)"', page).group(1)


class ConnectedAccountsTest(GatewayTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.oauth = OAuthServer(CLIENT_ID, CLIENT_SECRET, ["tickets:read"])
        cls.folder = os.path.join(os.environ.get("TMPDIR", "/tmp"), "orch-e2e-accounts-%s" % secrets.token_hex(4))
        os.makedirs(cls.folder)
        cls.upstream = Upstream(cls.oauth, os.path.join(cls.folder, "upstream.jsonl"))

    @classmethod
    def tearDownClass(cls):
        cls.upstream.stop()
        cls.oauth.stop()
        super().tearDownClass()

    def setUp(self):
        self.oauth.lifetime, self.oauth.say_expires_in = 3600, True
        self.oauth.client.redirect_uris = []
        self.document = self.policy(STATE_KEY)
        self.env = {"TICKETS_SECRET": CLIENT_SECRET, "ORCH_STATE_KEY": STATE_KEY}
        super().setUp()
        self.oauth.register_redirect(self.gateway.base + "/ui/oauth/callback")

    def policy(self, state_key):
        document = policy(extra_servers={"tickets": {
            "url": self.upstream.url,
            "oauth": {"client": {"id": CLIENT_ID, "secret": "${env:TICKETS_SECRET}"}, "scopes": ["tickets:read"],
                      "authorizationServer": self.oauth.issuer},
        }}, extra_allow=["tickets"])
        document["gateway"]["stateKey"] = "${env:ORCH_STATE_KEY}"
        return document

    def restart(self, state_key):
        """`orch serve` stopped and started again on the same folder, with `state_key`."""
        self.gateway.server.stop()
        self.gateway.server = OrchServer(self.gateway.path, env={"TICKETS_SECRET": CLIENT_SECRET, "ORCH_STATE_KEY": state_key})
        self.gateway.base = self.gateway.server.base
        self.oauth.register_redirect(self.gateway.base + "/ui/oauth/callback")

    def stored_file(self, user):
        return os.path.join(self.gateway.folder, "state", "connections", user, "%s__tickets" % ORG)

    def stored_bytes(self, user):
        with open(self.stored_file(user), "rb") as f:
            return f.read()

    # --- the connect flow, in plain HTTP -----------------------------------------------------------

    def sign_in(self, key):
        browser = Browser()
        status, _, page = browser.get(self.gateway.base + "/ui/signin")
        self.assertEqual(status, 200)
        status, _, _ = browser.post(self.gateway.base + "/ui/signin", {"key": key, "csrf": csrf(page)})
        self.assertEqual(status, 303)
        return browser

    def connections_page(self, browser):
        status, _, page = browser.get(self.gateway.base + "/ui/connections")
        self.assertEqual(status, 200, page)
        return page

    def start_connect(self, browser):
        """Connect pressed: the authorization request the gateway sent the browser to."""
        page = self.connections_page(browser)
        status, headers, body = browser.post(self.gateway.base + "/ui/connections/connect", {"csrf": csrf(page), "server": "acme/tickets"})
        self.assertEqual(status, 303, body)
        location = headers["Location"]
        self.assertTrue(location.startswith(self.oauth.issuer + "/authorize?"), location)
        return location

    def authorize(self, browser, location, user, action="allow"):
        """The provider's login form, filled as `user`: where it sends the browser back."""
        status, _, form = browser.get(location)
        self.assertEqual(status, 200, form)
        action_url = self.oauth.issuer + html.unescape(re.search(r"action='([^']+)'", form).group(1))
        status, headers, body = browser.post(action_url, {"user": user, "action": action})
        self.assertEqual(status, 302, body)
        return headers["Location"]

    def connect_in_http(self, key, user):
        browser = self.sign_in(key)
        callback = self.authorize(browser, self.start_connect(browser), user)
        self.assertTrue(callback.startswith(self.gateway.base + "/ui/oauth/callback?"), callback)
        returning = Browser()  # only the flow cookie comes back from the provider
        returning.cookies = {k: v for k, v in browser.cookies.items() if k == "orch_connect"}
        status, _, page = returning.get(callback)
        self.assertEqual(status, 200, page)
        self.assertIn("Your account at acme/tickets is connected.", page)
        return browser

    # --- MCP --------------------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def session(self, key, elicitation=True, notes=None):
        async def elicit(context, params):
            return types.ElicitResult(action="decline")

        async def message(item):
            if notes is not None and isinstance(item, types.ServerNotification):
                notes.append(item.root.method)

        async with open_streamable_http(self.gateway.url("tickets"), {"Authorization": "Bearer " + key}, self.http_client_factory) as (read, write, _):
            async with ClientSession(read, write, read_timeout_seconds=datetime.timedelta(seconds=WAIT),
                                     elicitation_callback=elicit if elicitation else None, message_handler=message) as session:
                self.initialized = await session.initialize()
                yield session

    def whoami(self, key):
        async def run():
            async with self.session(key) as session:
                return (await session.call_tool("whoami", {})).content[0].text
        return self.run_async(run)

    def refusal(self, key, elicitation=True):
        """The error a call gets without a working account."""
        async def run():
            async with self.session(key, elicitation) as session:
                with self.assertRaises(McpError) as caught:
                    await session.call_tool("whoami", {})
                return caught.exception.error
        return self.run_async(run)

    def assert_no_token_anywhere(self, *extra):
        texts = [self.gateway.log_text(), self.gateway.audit_text()] + list(extra)
        for root, _, files in os.walk(os.path.join(self.gateway.folder, "state")):
            for name in files:
                with open(os.path.join(root, name), "rb") as f:
                    texts.append(f.read().decode(errors="replace"))
        for token in self.oauth.issued + [CLIENT_SECRET]:
            for text in texts:
                self.assertNotIn(token, text, "a token or the client secret leaked")

    # --- cases ------------------------------------------------------------------------------------

    def test_without_an_account_a_caller_is_told_where_to_connect(self):
        connect_url = self.gateway.base + "/ui/connections"

        async def look():
            async with self.session(CALLER) as session:
                tools = (await session.list_tools()).tools
                with self.assertRaises(McpError) as caught:
                    await session.call_tool("whoami", {})
                return tools, caught.exception.error
        tools, error = self.run_async(look)
        self.assertEqual(tools, [])
        self.assertIn(connect_url, self.initialized.instructions or "")
        self.assertEqual(error.code, -32042)
        elicitation = error.data["elicitations"][0]
        self.assertEqual((elicitation["mode"], elicitation["url"]), ("url", connect_url))
        self.assertTrue(elicitation["elicitationId"].startswith("orch-connect-"))
        plain = self.refusal(CALLER, elicitation=False)
        self.assertEqual(plain.code, -32010)
        self.assertIn("Your account at acme/tickets is not connected. Connect it at %s" % connect_url, plain.message)
        refused = [r for r in self.audit_where(user="eve", server="tickets") if "whoami" in json.dumps(r)]
        self.assertTrue(refused and all("refused: eve's account at acme/tickets is not connected" in r["reason"] for r in refused), refused)
        self.assertEqual([r for r in self.upstream.records() if r.get("sub") == "eve"], [], "nothing reached the server as eve")
        self.assertIn("not connected", self.connections_page(self.sign_in(CALLER)))

    def modern(self, key, method, params, capabilities):
        """A 2026-07-28 request (no session; the envelope in `_meta`), as (status, answer)."""
        params = dict(params, _meta={"io.modelcontextprotocol/protocolVersion": "2026-07-28",
                                     "io.modelcontextprotocol/clientCapabilities": capabilities,
                                     "io.modelcontextprotocol/clientInfo": {"name": "e2e", "version": "1"}})
        headers = {"Authorization": "Bearer " + key, "Content-Type": "application/json", "Accept": "application/json, text/event-stream",
                   "MCP-Protocol-Version": "2026-07-28", "Mcp-Method": method}
        if "name" in params:
            headers["Mcp-Name"] = params["name"]
        body = json.dumps({"jsonrpc": "2.0", "id": 5, "method": method, "params": params}).encode()
        status, _, text = fetch(self.gateway.url("tickets"), method="POST", data=body, headers=headers)
        return status, json.loads(text)

    def test_a_2026_07_28_client_is_asked_to_connect_by_url(self):
        connect_url = self.gateway.base + "/ui/connections"
        status, listed = self.modern(CALLER, "tools/list", {}, {"elicitation": {"url": {}}})
        self.assertEqual((status, listed["result"]["tools"]), (200, []), listed)
        status, answer = self.modern(CALLER, "tools/call", {"name": "whoami", "arguments": {}}, {"elicitation": {"url": {}}})
        self.assertEqual(status, 200, answer)
        result = answer["result"]
        self.assertEqual(result["resultType"], "input_required", result)
        ask = list(result["inputRequests"].values())[0]
        self.assertEqual((ask["method"], ask["params"]["mode"], ask["params"]["url"]), ("elicitation/create", "url", connect_url))
        status, answer = self.modern(CALLER, "tools/call", {"name": "whoami", "arguments": {}}, {})
        self.assertEqual((status, answer["error"]["code"]), (200, -32010), answer)
        self.assertIn(connect_url, answer["error"]["message"])
        self.connect_in_http(CALLER, "eve-at-tickets")
        status, answer = self.modern(CALLER, "tools/call", {"name": "whoami", "arguments": {}}, {"elicitation": {"url": {}}})
        self.assertEqual(answer["result"]["content"][0]["text"], "eve-at-tickets", answer)
        self.assert_no_token_anywhere(json.dumps(answer))

    def test_each_user_connects_and_reaches_the_server_as_themselves(self):
        # eve's session is open before she connects: the same session goes on once she has.
        notes = []
        requests = len(self.oauth.requests)

        async def before_and_after():
            async with self.session(CALLER, notes=notes) as session:
                with self.assertRaises(McpError):
                    await session.call_tool("whoami", {})
                await self.to_thread(self.connect_in_http, CALLER, "eve-at-tickets")
                deadline = time.monotonic() + WAIT
                while "notifications/elicitation/complete" not in notes and time.monotonic() < deadline:
                    await self.sleep(0.05)
                listed = [t.name for t in (await session.list_tools()).tools]
                return listed, (await session.call_tool("whoami", {})).content[0].text
        listed, who = self.run_async(before_and_after)
        self.assertIn("notifications/elicitation/complete", notes)
        self.assertIn("notifications/tools/list_changed", notes)
        self.assertEqual(sorted(listed), ["shout", "whoami"])
        self.assertEqual(who, "eve-at-tickets")
        self.connect_in_http(ADMIN, "ada-at-tickets")
        self.assertEqual(self.whoami(ADMIN), "ada-at-tickets")
        self.assertEqual(self.whoami(CALLER), "eve-at-tickets")
        # The code went with the verifier, the client authenticated, the resource was the server's.
        exchanges = [r for r in self.oauth.requests[requests:] if r[0] == "authorization_code"]
        self.assertEqual(len(exchanges), 2)
        self.assertTrue(all("code_verifier" in r[1] and r[3] == self.upstream.url for r in exchanges), exchanges)
        # The catalog (the REST API's tools) is the caller's own listing.
        status, _, tools = self.gateway.server.request("/api/v1/tools?server=acme/tickets", token=CALLER)
        self.assertEqual(status, 200)
        self.assertEqual(sorted(t["name"] for t in tools["tools"]), ["shout", "whoami"])
        self.assertTrue(os.path.exists(self.stored_file("eve")) and os.stat(self.stored_file("eve")).st_mode & 0o777 == 0o600)
        admin = self.connections_page(self.sign_in(ADMIN))
        api = []
        for path in ("/api/v1/me", "/api/v1/servers", "/api/v1/tools", "/api/v1/client-config?client=claude-code",
                     "/api/v1/client-config?client=cursor", "/api/v1/policy"):
            for token in (CALLER, ADMIN):
                status, _, body = self.gateway.server.request(path, token=token)
                self.assertIn(status, (200, 403), (path, body))
                api.append(body)
        self.assert_no_token_anywhere(admin, json.dumps(api), json.dumps(tools))

    def test_the_aggregated_endpoint_lists_the_server_once_connected(self):
        async def tools():
            url = "%s/orgs/%s/mcp" % (self.gateway.base, ORG)
            async with open_streamable_http(url, {"Authorization": "Bearer " + CALLER}, self.http_client_factory) as (read, write, _):
                async with ClientSession(read, write, read_timeout_seconds=datetime.timedelta(seconds=WAIT)) as session:
                    self.initialized = await session.initialize()
                    names = sorted(t.name for t in (await session.list_tools()).tools)
                    who = None
                    if "tickets__whoami" in names:
                        who = (await session.call_tool("tickets__whoami", {})).content[0].text
                    return names, who
        names, who = self.run_async(tools)
        self.assertIn("notes__echo", names)
        self.assertFalse([n for n in names if n.startswith("tickets__")], names)
        self.assertIn("tickets: Your account at acme/tickets is not connected. Connect it at %s/ui/connections" % self.gateway.base,
                      self.initialized.instructions or "")
        self.connect_in_http(CALLER, "eve-at-tickets")
        names, who = self.run_async(tools)
        self.assertIn("tickets__whoami", names)
        self.assertEqual(who, "eve-at-tickets")

    def test_tokens_are_refreshed_before_expiry_and_after_a_401(self):
        self.connect_in_http(CALLER, "eve-at-tickets")
        # Less than 60 s left: refreshed before the call; the rotated refresh token is kept.
        self.oauth.lifetime = 30
        before = self.stored_bytes("eve")
        refreshes = len(self.oauth.refreshes("eve-at-tickets"))
        self.assertEqual(self.whoami(CALLER), "eve-at-tickets")  # the first token still lasts an hour
        self.oauth.lifetime = 3600
        self.connect_in_http(CALLER, "eve-at-tickets")
        self.oauth.lifetime = 30
        self.connect_in_http(CALLER, "eve-at-tickets")  # a token of 30 s
        self.assertEqual(self.whoami(CALLER), "eve-at-tickets")
        self.assertEqual(self.whoami(CALLER), "eve-at-tickets")
        self.assertGreaterEqual(len(self.oauth.refreshes("eve-at-tickets")) - refreshes, 2)
        self.assertNotEqual(self.stored_bytes("eve"), before)
        # A token response without expires_in: used until the server refuses it (401), then refreshed once.
        self.oauth.lifetime, self.oauth.say_expires_in = 2, False
        self.connect_in_http(CALLER, "eve-at-tickets")
        refreshes = len(self.oauth.refreshes("eve-at-tickets"))
        time.sleep(3)
        self.assertEqual(self.whoami(CALLER), "eve-at-tickets")
        self.assertEqual(len(self.oauth.refreshes("eve-at-tickets")) - refreshes, 1)
        self.assertIn("ExpiredSignatureError", [r.get("reason") for r in self.upstream.records()])
        self.assert_no_token_anywhere()

    def test_a_revoked_grant_breaks_the_account_and_disconnect_revokes_it(self):
        self.connect_in_http(CALLER, "eve-at-tickets")
        ada = self.connect_in_http(ADMIN, "ada-at-tickets")
        self.oauth.lifetime = 1
        self.connect_in_http(CALLER, "eve-at-tickets")  # eve's token lasts a second
        self.oauth.revoke_user("eve-at-tickets")
        time.sleep(1.5)
        error = self.refusal(CALLER)
        self.assertEqual(error.code, -32042)
        self.assertIn("is broken", error.message)
        self.assertIn("broken", self.connections_page(self.sign_in(CALLER)))
        self.assertEqual(self.whoami(ADMIN), "ada-at-tickets")  # ada's own account is untouched
        # ada disconnects: revoked at the provider, the file gone, calls refused.
        revocations = len(self.oauth.revocations)
        page = self.connections_page(ada)
        status, _, body = ada.post(self.gateway.base + "/ui/connections/disconnect", {"csrf": csrf(page), "server": "acme/tickets"})
        self.assertIn(status, (200, 303), body)
        self.assertEqual(self.oauth.revocations[revocations:], ["ada-at-tickets"])
        self.assertFalse(os.path.exists(self.stored_file("ada")))
        self.assertIn("not connected", self.refusal(ADMIN).message)
        self.assert_no_token_anywhere()

    def test_a_restart_keeps_accounts_under_the_same_key_only(self):
        self.connect_in_http(CALLER, "eve-at-tickets")
        self.restart(STATE_KEY)
        self.assertEqual(self.whoami(CALLER), "eve-at-tickets")
        with open(self.gateway.path) as f:
            document = json.load(f)
        self.restart(OTHER_STATE_KEY)
        error = self.refusal(CALLER)
        self.assertIn("not connected", error.message)
        self.wait_until(lambda: "counts as not connected" in self.gateway.log_text(), "the gateway to log the file it cannot open")
        self.assertEqual(document["gateway"]["stateKey"], "${env:ORCH_STATE_KEY}")
        self.assert_no_token_anywhere()

    def test_bad_callbacks_store_nothing(self):
        browser = self.sign_in(CALLER)
        location = self.start_connect(browser)
        state = urllib.parse.parse_qs(urllib.parse.urlparse(location).query)["state"][0]
        flow = {"orch_connect": browser.cookies["orch_connect"]}
        forged = state[:-4] + ("AAAA" if not state.endswith("AAAA") else "BBBB")
        status, _, page = fetch(self.gateway.base + "/ui/oauth/callback?code=x&state=" + urllib.parse.quote(forged), flow)
        self.assertEqual(status, 400, page)
        denied = self.authorize(browser, location, "eve-at-tickets", action="deny")
        status, _, page = fetch(denied, flow)
        self.assertEqual(status, 400, page)
        self.assertIn("access_denied", page)
        self.assertFalse(os.path.exists(self.stored_file("eve")))
        # A state used once is not used again.
        browser = self.connect_in_http(CALLER, "eve-at-tickets")
        self.assertTrue(os.path.exists(self.stored_file("eve")))

    # --- helpers for async tests -------------------------------------------------------------------

    @staticmethod
    async def to_thread(fn, *args):
        import anyio
        return await anyio.to_thread.run_sync(lambda: fn(*args))

    @staticmethod
    async def sleep(seconds):
        import anyio
        await anyio.sleep(seconds)


class BrowserConnectTest(ConnectedAccountsTest):
    """The connect flow in headless Chromium: sign in with a key, Connect, the provider's form, back."""

    def test_each_user_connects_and_reaches_the_server_as_themselves(self):
        from dashboard_browser import signed_in_chromium
        from selenium.webdriver.common.by import By

        driver, wait = signed_in_chromium(self, self.gateway.base, ADMIN)
        driver.get(self.gateway.base + "/ui/connections")
        wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "form[action='/ui/connections/connect'] button")).click()
        wait.until(lambda d: d.current_url.startswith(self.oauth.issuer + "/authorize"))
        wait.until(lambda d: d.find_element(By.ID, "user")).send_keys("ada-at-tickets")
        wait.until(lambda d: d.find_element(By.ID, "allow")).click()
        wait.until(lambda d: "/ui/oauth/callback" in d.current_url and "is connected" in d.find_element(By.TAG_NAME, "body").text)
        wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "a[href='/ui/connections']")).click()
        wait.until(lambda d: d.current_url == self.gateway.base + "/ui/connections")
        state = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "td.state")).text
        self.assertEqual(state, "connected")
        self.assertEqual(self.whoami(ADMIN), "ada-at-tickets")
        self.assert_no_token_anywhere(driver.page_source)

    # Only the browser case runs in this class.
    test_without_an_account_a_caller_is_told_where_to_connect = None
    test_tokens_are_refreshed_before_expiry_and_after_a_401 = None
    test_a_revoked_grant_breaks_the_account_and_disconnect_revokes_it = None
    test_a_restart_keeps_accounts_under_the_same_key_only = None
    test_bad_callbacks_store_nothing = None
    test_a_2026_07_28_client_is_asked_to_connect_by_url = None
    test_the_aggregated_endpoint_lists_the_server_once_connected = None


if __name__ == "__main__":
    unittest.main()
