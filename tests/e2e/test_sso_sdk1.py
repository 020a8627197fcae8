"""End-to-end: single sign-on with a real OpenID Connect provider and the official MCP Python SDK
1.x (`mcp<2`).

Run with the 1.x venv:  cd tests/e2e && ../../.venv-mcp1/bin/python test_sso_sdk1.py -v

The provider is oidc-provider-mock on loopback (oidc_provider.py), issuing RS256 JWT access tokens
through its real endpoints. orch.json names it in `auth.oidc` (keys from its discovery document)
and maps users by email. Cases: a mapped user lists and calls tools under their role; an unmapped
user, a disabled user, a wrong audience, a wrong issuer, an expired token, `alg: none`, HS256
signed with the provider's public key, a token without the required scope (403 naming it); an
unknown `kid` (the JWKS fetched once more and the key found; another unknown `kid` within the
interval not fetched); a reload that takes the user away ends their live session; a key-holding
SDK client is unaffected while the metadata is served; and the SDK's OAuth client provider runs
the whole discovery, registration and authorization-code + PKCE flow against the gateway's
metadata and the provider with no token configured by hand.
"""
import contextlib
import copy
import datetime
import json
import os
import sys
import unittest
import urllib.error
import urllib.parse
import urllib.request

import httpx
import mcp.client.streamable_http as streamable_http
import mcp.types as types
from mcp import ClientSession
from mcp.client.auth import OAuthClientProvider
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.auth import OAuthClientMetadata
from mcp.shared.exceptions import McpError

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from mcp_fixtures import CALLER, ORG, WAIT, GatewayTestCase, policy  # noqa: E402
from oidc_provider import CALLBACK, MemoryTokens, OIDCProvider, SDKBrowser, unverified_claims, unverified_header  # noqa: E402

EVE = {"sub": "eve-0001", "email": "eve@example.com"}
EVE_TOOLS = ["add", "echo"]


async def all_tools(session):
    """Every tool name of a session, over every page, sorted."""
    names, cursor = [], None
    while True:
        result = await session.list_tools(params=types.PaginatedRequestParams(cursor=cursor))
        names += [tool.name for tool in result.tools]
        cursor = result.nextCursor
        if not cursor:
            return sorted(names)


class SingleSignOnTest(GatewayTestCase):

    def document(self):
        doc = policy()
        doc["auth"] = {"oidc": {"sso": {"issuer": self.provider.issuer, "scopes": ["mcp"]}}}
        doc["users"]["eve"]["email"] = EVE["email"]
        doc["users"]["dan"] = {"email": "dan@example.com", "disabled": True}
        doc["orgs"][ORG]["members"]["dan"] = "caller"
        return doc

    def setUp(self):
        # Each test: its own provider (keys, request log), and a real provider the gateway does not trust.
        self.provider = OIDCProvider()
        self.provider.start()
        self.addCleanup(self.provider.stop)
        self.stranger = OIDCProvider()
        self.stranger.start()
        self.addCleanup(self.stranger.stop)
        super().setUp()

    # helpers ----------------------------------------------------------------------------------

    def token(self, provider=None, sub=EVE["sub"], email=EVE["email"], scope="mcp", resource=None, **kwargs):
        return (provider or self.provider).token(sub, email=email, scope=scope, resource=resource or self.gateway.base, **kwargs)

    def post(self, token, body, path="/orgs/acme/servers/notes/mcp", session=None):
        """(status, headers, JSON body) of one JSON-RPC POST."""
        headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
        if token is not None:
            headers["Authorization"] = "Bearer " + token
        if session:
            headers["Mcp-Session-Id"] = session
        request = urllib.request.Request(self.gateway.base + path, method="POST", data=json.dumps(body).encode(), headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=WAIT) as response:
                return response.status, response.headers, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            return error.code, error.headers, json.loads(error.read() or b"null")

    def initialize(self, token, path="/orgs/acme/servers/notes/mcp"):
        return self.post(token, {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "sso-test", "version": "1"}}}, path=path)

    def assert_refused(self, token, status, reason_part, error="invalid_token"):
        code, headers, body = self.initialize(token)
        self.assertEqual(code, status, "%s\n%s" % (body, self.diagnostics()))
        challenge = headers.get("WWW-Authenticate", "")
        self.assertIn('resource_metadata="%s/.well-known/oauth-protected-resource/orgs/acme/servers/notes/mcp"' % self.gateway.base, challenge)
        self.assertIn('error="%s"' % error, challenge)
        records = [r for r in self.gateway.audit_records() if r.get("status") == status and reason_part in r.get("reason", "")]
        self.assertTrue(records, "no audit record with status %d and reason ~ %r:\n%s" % (status, reason_part, self.gateway.audit_text()))
        self.assertNotIn(token, self.gateway.audit_text())
        self.assertNotIn(token.split(".")[-1] or token, self.gateway.audit_text())
        return records[-1], challenge

    @contextlib.asynccontextmanager
    async def connect(self, path, token=None, auth=None):
        headers = {"Authorization": "Bearer " + token} if token else {}
        async with create_mcp_http_client(headers=headers, timeout=httpx.Timeout(WAIT, read=WAIT * 10), auth=auth) as http:
            http.event_hooks["response"].append(self.http.hook)
            async with streamable_http.streamable_http_client(self.gateway.base + path, http_client=http) as (read, write, session_id):
                async with ClientSession(read, write, read_timeout_seconds=datetime.timedelta(seconds=WAIT)) as session:
                    await session.initialize()
                    yield session, session_id

    # cases ------------------------------------------------------------------------------------

    def test_a_mapped_user_lists_and_calls_tools_under_their_role(self):
        token = self.token()
        header, claims = unverified_header(token), unverified_claims(token)
        self.assertEqual((header["alg"], claims["aud"], claims["iss"]), ("RS256", self.gateway.base, self.provider.issuer))

        async def run():
            async with self.connect("/orgs/acme/servers/notes/mcp", token) as (session, _):
                tools = await session.list_tools()
                self.assertEqual(sorted(t.name for t in tools.tools), EVE_TOOLS)
                result = await session.call_tool("echo", {"text": "signed in"})
                self.assertFalse(result.isError)
                self.assertIn("signed in", result.content[0].text)
                with self.assertRaises(McpError) as refused:
                    await session.call_tool("delete_note", {"name": "x"})
                self.assertIn("not permitted for eve", str(refused.exception))
            # The aggregated endpoint too, under exposed names.
            async with self.connect("/orgs/acme/mcp", token) as (session, _):
                self.assertEqual(await all_tools(session), ["notes__add", "notes__echo", "paged__add", "paged__echo"])

        self.run_async(run)
        call = self.assert_audited(tool="echo", decision="allow", user="eve")[-1]
        self.assertEqual((call["issuer"], call["key"]), ("sso", None))
        self.assert_audited(tool="delete_note", decision="deny", user="eve", issuer="sso")
        self.assertNotIn(token, self.gateway.audit_text())
        status, _, me = self.gateway.server.request("/api/v1/me", token=token)
        self.assertEqual((status, me["user"], me["signIn"], me["key"]), (200, "eve", {"issuer": "sso"}, None))
        metrics = self.gateway.server.request("/metrics")[2]
        self.assertIn('orch_jwt_verifications_total{issuer="sso",result="ok"}', metrics)
        self.assertIn('orch_jwks_refreshes_total{issuer="sso",result="ok"} 1', metrics)

    def test_tokens_that_are_not_for_this_gateway_or_user_are_refused(self):
        self.assert_refused(self.token(sub="nobody-1", email="nobody@example.com"), 401, "no user for sso email nobody@example.com")
        record, _ = self.assert_refused(self.token(sub="dan-1", email="dan@example.com"), 401, "user dan is disabled")
        self.assertEqual((record["user"], record["issuer"]), ("dan", "sso"))
        self.assert_refused(self.token(resource="https://elsewhere.example.com"), 401, "audience https://elsewhere.example.com is not")
        self.assert_refused(self.token(provider=self.stranger), 401, "issuer %s is not in auth.oidc" % self.stranger.issuer)
        self.assert_refused(self.provider.expired_token(EVE["sub"], email=EVE["email"], scope="mcp", resource=self.gateway.base),
                            401, "expired at")
        claims = unverified_claims(self.token())
        self.assert_refused(self.provider.forge_alg_none(claims), 401, "algorithm none is not accepted")
        self.assert_refused(self.provider.forge_hs256_confusion(claims), 401, "algorithm HS256 is not accepted")
        # A valid token without the required scope: 403 that names it.
        record, challenge = self.assert_refused(self.token(scope="openid"), 403, "the token lacks the scope mcp", error="insufficient_scope")
        self.assertIn('scope="mcp"', challenge)
        metrics = self.gateway.server.request("/metrics")[2]
        for result in ("no_user", "invalid_token", "insufficient_scope"):
            self.assertIn('orch_jwt_verifications_total{issuer="sso",result="%s"}' % result, metrics)
        self.assertIn('orch_jwt_verifications_total{issuer="-",result="invalid_token"}', metrics)
        # A key still works beside all this.
        self.assertEqual(self.initialize(CALLER)[0], 200)

    def test_an_unknown_kid_fetches_the_keys_once_and_not_again_within_the_interval(self):
        self.assertEqual(self.initialize(self.token())[0], 200)
        fetches = self.provider.count("/jwks")
        self.assertEqual(fetches, 1)  # the first token of the issuer
        # The provider rotates to a new key: its first token makes the gateway fetch the keys again.
        self.provider.rotate_key()
        rotated = self.token()
        self.assertEqual(self.initialize(rotated)[0], 200, self.diagnostics())
        self.assertEqual(self.provider.count("/jwks"), fetches + 1)
        # A kid that is published nowhere, within the refresh interval: refused without a fetch.
        self.provider.rotate_key(publish=False)
        self.assert_refused(self.token(), 401, "has no key")
        self.assertEqual(self.provider.count("/jwks"), fetches + 1)
        # A token signed by a key the provider never had, under an unknown kid: the same.
        self.assert_refused(self.provider.forge_foreign_key(unverified_claims(rotated)), 401, "has no key")
        self.assertEqual(self.provider.count("/jwks"), fetches + 1)
        metrics = self.gateway.server.request("/metrics")[2]
        self.assertIn('orch_jwks_refreshes_total{issuer="sso",result="ok"} 2', metrics)

    def test_a_reload_that_takes_the_user_away_ends_their_live_session(self):
        token = self.token()
        status, headers, _ = self.initialize(token)
        self.assertEqual(status, 200)
        session = headers["Mcp-Session-Id"]
        self.assertEqual(self.post(token, {"jsonrpc": "2.0", "method": "notifications/initialized"}, session=session)[0], 202)
        status, _, listed = self.post(token, {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}, session=session)
        self.assertEqual(sorted(t["name"] for t in listed["result"]["tools"]), EVE_TOOLS)
        # Someone else's sign-in and eve's own key do not reach the session.
        other = self.token(sub="eve-0002")
        self.assertEqual(self.post(other, {"jsonrpc": "2.0", "id": 3, "method": "tools/list"}, session=session)[0], 404)
        self.assertEqual(self.post(CALLER, {"jsonrpc": "2.0", "id": 3, "method": "tools/list"}, session=session)[0], 404)
        # eve's email changes in orch.json: her sign-in no longer names her, her session ends.
        changed = copy.deepcopy(self.document())
        changed["users"]["eve"]["email"] = "eve.new@example.com"
        self.gateway.reload(changed)
        self.wait_until(lambda: self.audit_where(method="session end", session=session), "the session's end")
        end = self.audit_where(method="session end", session=session)[0]
        self.assertEqual(end["reason"], "its user eve was removed, disabled or no longer signs in so, by a policy reload")
        self.assertEqual(end["issuer"], "sso")
        self.assertEqual(self.post(token, {"jsonrpc": "2.0", "id": 4, "method": "tools/list"}, session=session)[0], 401)

    def test_a_key_holding_sdk_client_is_unaffected_while_the_metadata_is_served(self):
        status, _, metadata = self.gateway.server.request("/.well-known/oauth-protected-resource/orgs/acme/mcp")
        self.assertEqual(status, 200)
        self.assertEqual(metadata["authorization_servers"], [self.provider.issuer])
        self.assertEqual(metadata["resource"], self.gateway.base)

        async def run():
            async with self.connect("/orgs/acme/servers/notes/mcp", CALLER) as (session, _):
                self.assertEqual(sorted(t.name for t in (await session.list_tools()).tools), EVE_TOOLS)
                self.assertFalse((await session.call_tool("echo", {"text": "key"})).isError)

        self.run_async(run)
        self.assertTrue(self.http.statuses(), "the SDK's HTTP exchange was not recorded")
        self.assertEqual([status for _, status in self.http.statuses() if status >= 400], [])
        self.assertEqual(self.provider.count("/oauth2/token"), 0)
        self.assert_audited(tool="echo", decision="allow", user="eve", key="laptop")

    def test_the_sdk_oauth_client_signs_in_through_the_gateways_metadata(self):
        browser = SDKBrowser(EVE["sub"], email=EVE["email"], email_verified=True)
        tokens = MemoryTokens()
        auth = OAuthClientProvider(
            server_url=self.gateway.base + "/orgs/acme/mcp", storage=tokens,
            client_metadata=OAuthClientMetadata(redirect_uris=[CALLBACK], client_name="orch e2e"),
            redirect_handler=browser.redirect_handler, callback_handler=browser.callback_handler)
        start = len(self.provider.requests)

        async def run():
            async with self.connect("/orgs/acme/mcp", auth=auth) as (session, _):
                self.assertEqual(await all_tools(session), ["notes__add", "notes__echo", "paged__add", "paged__echo"])
                self.assertFalse((await session.call_tool("notes__echo", {"text": "via sso"})).isError)

        self.run_async(run)
        # The SDK met a 401 naming the metadata, then discovered, registered, authorized with PKCE
        # and the resource, and came back with the provider's token.
        self.assertEqual(self.http.statuses()[0], ("POST", 401))
        self.assertEqual(len(browser.urls), 1)
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(browser.urls[0]).query)
        # The SDK asks for the metadata's resource as a normalized URL (a trailing /): the same resource.
        self.assertEqual((query["code_challenge_method"], query["resource"], query["scope"]), (["S256"], [self.gateway.base + "/"], ["mcp"]))
        paths = [path for _, path, _ in self.provider.requests[start:]]
        for step in ("/.well-known/openid-configuration", "/oauth2/clients", "/oauth2/authorize", "/oauth2/token"):
            self.assertIn(step, paths)
        claims = unverified_claims(tokens.tokens.access_token)
        self.assertEqual((claims["aud"], claims["email"]), (self.gateway.base + "/", EVE["email"]))
        self.assert_audited(tool="echo", decision="allow", user="eve", issuer="sso")


if __name__ == "__main__":
    unittest.main()
