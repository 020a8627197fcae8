"""End-to-end: the web dashboard (/ui/) in a real browser, headless Chromium driven by Selenium.

Run with the 1.x venv (selenium, the MCP SDK 1.x, oidc-provider-mock), Debian's chromium and
chromium-driver installed:  cd tests/e2e && ../../.venv-mcp1/bin/python test_dashboard.py -v
ORCH_SCREENSHOTS=1 also writes docs/screenshots/{signin,servers,server,connect,keys,admin,access,
sessions,audit}.png (1280x900) from these flows.

Each test starts its own gateway (mcp_fixtures: eve holds the key CALLER and may call echo and add
in acme; ada holds ADMIN, admin of acme and, here, a gateway admin; oli is in globex only); one
browser serves each test class. Cases, each a browser flow:
- a key typed into the sign-in form signs in; eve sees acme's servers and not globex's; the cookie
  is HttpOnly, SameSite=Strict, Path=/ui; her keys page shows the key of this session;
- a server's page marks the tool eve may not call (delete_note) denied, with the reason;
- the Cline config copied with its copy button (through the clipboard) connects the MCP SDK once
  eve's key replaces <ORCH_TOKEN>: it lists the tools and calls echo;
- a non-admin gets "Admins only" on every admin page, and HTTP 403 for her cookie;
- an admin goes through the admin pages (gateway, access matrix and a cell's decision, live
  sessions) and sees on the audit page, live, the record of a tools/call made after it loaded;
- the audit page's filter fields start empty; filtering by user and decision narrows the records
  and the live tail alike;
- a server description holding a <script> is shown as text and never runs;
- signing out ends the session: /ui/ then goes to the sign-in page, the old cookie no longer works;
- a reload of orch.json that removes eve's key signs her browser out;
- sign-in through an auth.oidc issuer (oidc-provider-mock): the provider's form filled in the
  browser, back on /ui/ signed in as eve, also when the provider is another site than the gateway
  (localhost vs 127.0.0.1); with a wrong client secret, or a person orch.json does not know, an
  explanation on the sign-in page instead.
Pages with no test-made failure must leave no error in the browser's console (script errors,
refused resources, Content-Security-Policy violations).
"""
import json
import os
import sys
import time
import unittest
import urllib.parse
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from selenium.common.exceptions import NoAlertPresentException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402

from dashboard_browser import BrowserTestCase, jsonrpc, open_mcp_session  # noqa: E402
from mcp_fixtures import ADMIN, CALLER, OUTSIDER, WAIT, policy  # noqa: E402
from oidc_provider import OIDCProvider  # noqa: E402  (imports oidc_provider_mock quietly)
from oidc_provider_mock import _storage as provider_storage  # noqa: E402

ADMIN_PAGES = ["/ui/admin", "/ui/admin/access", "/ui/admin/sessions", "/ui/admin/audit"]
SCRIPT = "<script>window.pwned=1</script>"


def dashboard_policy():
    """mcp_fixtures.policy() with ada a gateway admin, and descriptions on the servers."""
    document = policy()
    document["users"]["ada"]["admin"] = True
    document["orgs"]["acme"]["servers"]["notes"]["description"] = "Team notes, through orch sample-server."
    document["orgs"]["acme"]["servers"]["paged"]["description"] = "The same notes, two tools a page."
    return document


class KeySignInTest(BrowserTestCase):
    """The dashboard signed in with a key."""

    document = staticmethod(dashboard_policy)

    def test_a_key_signs_in_and_shows_only_your_servers(self):
        self.open("/")
        self.wait_for_path("/ui/signin")  # / -> /ui/ -> /ui/signin
        self.assertEqual(self.driver.title, "Sign in · orch")
        self.assertEqual(self.find("#key").get_attribute("type"), "password")
        self.screenshot("signin")

        # A wrong key: the form again, with an explanation.
        self.find("#key").send_keys(CALLER[:-4] + "abcd")
        self.find("#signin-key").click()
        self.wait_for(lambda d: d.find_elements(By.ID, "signin-error") or d.find_element(By.TAG_NAME, "body").text.startswith("{"),
                      "the wrong key's error")
        if not self.find_all("#signin-error"):
            self.fail("a wrong key is refused on the sign-in page, not with: %s\n%s" % (self.text("body")[:500], self.diagnostics()))
        error = self.find("#signin-error")
        self.assertIn("does not sign in here", error.text)
        self.assertIsNone(self.session_cookie())
        self.forget_console()  # the refused sign-in's 401

        self.sign_in_with_key(CALLER)
        self.assertIn("eve", self.text("#signed-in-user"))
        self.assertIn("key laptop", self.text("#signed-in-user"))
        servers = sorted(li.get_attribute("data-server") for li in self.find_all("li.server"))
        self.assertEqual(servers, ["acme/notes", "acme/paged"], "eve is a member of acme only")
        self.assertNotIn("globex", self.find("main").text)
        notes = self.find('li.server[data-server="acme/notes"]')
        self.assertEqual(notes.find_element(By.CSS_SELECTOR, "h3 a").get_attribute("href"), self.base + "/ui/servers/acme/notes")
        self.assertIn(self.base + "/orgs/acme/servers/notes/mcp", notes.text)
        self.assertEqual(self.find_all("nav a[href='/ui/admin']"), [], "eve is no gateway admin: no Admin link")
        # globex's server is not even reachable by URL.
        self.open("/ui/servers/globex/notes")
        self.assertNotIn("tools-table", self.driver.page_source)
        self.assertEqual(self.fetch("/ui/servers/globex/notes", self.session_cookie()["value"])[0], 404)
        self.forget_console()  # that page's 404

        cookie = self.session_cookie()
        self.assertEqual((cookie["httpOnly"], cookie["sameSite"], cookie["path"]), (True, "Strict", "/ui"), cookie)
        self.open("/ui/")
        self.assertNotIn("orch_session", self.driver.execute_script("return document.cookie"), "HttpOnly: no script reads it")
        # A server not listed lately says "checking…" and is listed in the background; the page
        # does not update itself, so it is loaded again until both servers are listed.
        deadline = time.time() + WAIT
        while True:
            statuses = {li.get_attribute("data-server"): li.find_element(By.CSS_SELECTOR, ".status").text
                        for li in self.find_all("li.server")}
            if all(not status.startswith("checking") for status in statuses.values()) or time.time() > deadline:
                break
            time.sleep(0.2)
            self.open("/ui/")
        self.assertEqual(statuses, {"acme/notes": "reachable: 5 tools", "acme/paged": "reachable: 5 tools"})
        self.screenshot("servers")

        self.find("nav a[href='/ui/keys']").click()
        self.wait_for_path("/ui/keys")
        rows = self.find_all("#keys-table tbody tr")
        self.assertEqual(len(rows), 1, self.find("main").text)
        self.assertIn("laptop (this session)", rows[0].text)
        self.assertNotIn(CALLER, self.driver.page_source, "no page shows a key")
        self.screenshot("keys")
        self.assertEqual(self.console_errors(), [])

    def test_a_servers_page_marks_a_denied_tool_with_its_reason(self):
        self.sign_in_with_key(CALLER)
        self.find('li.server[data-server="acme/notes"] h3 a').click()
        self.wait_for_path("/ui/servers/acme/notes")
        self.wait_for(lambda d: d.find_elements(By.CSS_SELECTOR, "#tools-table tbody tr"), "the tools table's rows")
        rows = {row.get_attribute("data-name"): row for row in self.find_all("#tools-table tbody tr")}
        self.assertEqual(sorted(rows), ["add", "delete_note", "echo", "now", "write_note"])
        allowed = sorted(name for name, row in rows.items() if "allowed" in row.get_attribute("class").split())
        denied = sorted(name for name, row in rows.items() if "denied" in row.get_attribute("class").split())
        self.assertEqual((allowed, denied), (["add", "echo"], ["delete_note", "now", "write_note"]))

        row = rows["delete_note"]
        self.assertEqual(row.find_element(By.CSS_SELECTOR, "strong").text, "denied")
        reason = row.find_element(By.CSS_SELECTOR, "span.reason")
        self.assertTrue(reason.is_displayed(), "the reason is shown, not hidden")
        self.assertTrue(reason.text.strip(), "a denied tool names its reason")
        self.assertIn("eve", reason.text)
        self.assertIn("delete_note", reason.text)
        self.assertTrue(rows["echo"].find_element(By.CSS_SELECTOR, "span.reason").text.strip())
        # The prompts and resources tables are there too; eve may read notes://index.
        self.assertTrue(self.find_all("#prompts-table"))
        resources = {row.get_attribute("data-name"): row.get_attribute("class") for row in self.find_all("#resources-table tbody tr")}
        self.assertEqual(resources.get("notes://index"), "allowed", resources)
        self.screenshot("server")
        self.assertEqual(self.console_errors(), [])

    def test_the_copied_cline_config_connects_the_mcp_sdk(self):
        self.sign_in_with_key(CALLER)
        self.find("nav a[href='/ui/connect']").click()
        self.wait_for_path("/ui/connect")
        for client in ("cline", "claude-code", "cursor", "vscode", "windsurf", "claude-desktop"):
            self.assertTrue(self.find_all("pre#config-%s" % client), "no config for %s" % client)
            self.assertTrue(self.find_all("#copy-%s" % client), "no copy button for %s" % client)
        self.assertNotIn(CALLER, self.driver.page_source, "the page never shows a key")
        self.screenshot("connect")

        shown = self.text("pre#config-cline")
        # The copy button, through the clipboard (permissions granted for this origin): read back
        # with navigator.clipboard.readText(). If the headless clipboard cannot be read, the
        # config's text on the page is used instead; the test says which it used.
        self.driver.execute_cdp_cmd("Browser.grantPermissions", {
            "origin": self.base, "permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"]})
        button = self.find("#copy-cline")
        self.driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", button)
        button.click()
        status = button.find_element(By.XPATH, "following-sibling::span[@class='copied']")
        self.wait_for(lambda d: status.text, "the copy button's status")
        read = self.driver.execute_async_script(
            "var done = arguments[arguments.length - 1];"
            "navigator.clipboard.readText().then(function (t) { done({ok: true, text: t}); },"
            " function (e) { done({ok: false, error: String(e)}); });")
        if status.text == "Copied." and read.get("ok"):
            copied, path = read["text"], "the clipboard (navigator.clipboard.readText)"
            self.assertEqual(copied, shown, "the clipboard holds exactly the config shown")
        else:
            copied, path = shown, "the text of pre#config-cline (the clipboard: %r, %r)" % (status.text, read)
        sys.stderr.write("[cline config read from %s] " % path)
        self.assertIn("<ORCH_TOKEN>", copied)

        config = json.loads(copied.replace("<ORCH_TOKEN>", CALLER))
        entries = config["mcpServers"]
        self.assertEqual(list(entries), ["acme"], "one entry per org eve reaches: acme")
        entry = entries["acme"]
        self.assertEqual(entry["type"], "streamableHttp")
        self.assertEqual(entry["url"], self.base + "/orgs/acme/mcp")
        self.assertEqual(entry["headers"], {"Authorization": "Bearer " + CALLER})

        async def connect():
            import datetime
            import mcp.types as types
            from mcp import ClientSession
            from mcp.shared._httpx_utils import create_mcp_http_client
            from test_mcp_sdk1 import open_streamable_http

            def client_factory(headers=None, timeout=None, auth=None):
                client = create_mcp_http_client(headers=headers, timeout=timeout, auth=auth)
                client.event_hooks["response"].append(self.http.hook)
                return client

            async with open_streamable_http(entry["url"], entry["headers"], client_factory) as (read, write, _):
                async with ClientSession(read, write, read_timeout_seconds=datetime.timedelta(seconds=WAIT)) as session:
                    await session.initialize()
                    tools, cursor = [], None
                    while True:  # every page
                        listed = await session.list_tools(params=types.PaginatedRequestParams(cursor=cursor))
                        tools += [tool.name for tool in listed.tools]
                        cursor = listed.nextCursor
                        if not cursor or len(tools) > 100:
                            break
                    tools.sort()
                    result = await session.call_tool("notes__echo", {"text": "from the dashboard's config"})
                    return tools, result

        tools, result = self.run_async(connect)
        self.assertEqual(tools, ["notes__add", "notes__echo", "paged__add", "paged__echo"])
        self.assertFalse(result.isError, result)
        self.assertIn("from the dashboard's config", result.content[0].text)
        self.assert_audited(user="eve", key="laptop", tool="echo", decision="allow")

    def test_a_non_admin_gets_403_on_admin_pages(self):
        self.sign_in_with_key(CALLER)
        cookie = self.session_cookie()["value"]
        for page in ADMIN_PAGES:
            with self.subTest(page=page):
                self.open(page)
                self.wait_for_path(page)
                self.assertEqual(self.text("h1"), "Admins only")
                self.assertIn("for gateway admins", self.text("main"))
                self.assertEqual(self.find_all("#audit-table"), [])
                status, _, body = self.fetch(page, cookie)
                self.assertEqual(status, 403, body[:500])
                self.assertIn("Admins only", body)
        status, _, body = self.fetch("/ui/admin/audit/stream", cookie)
        self.assertEqual(status, 403, body[:500])
        self.assertEqual(self.fetch("/ui/", cookie)[0], 200, "the same cookie still opens her own pages")
        self.assert_audited(user="eve", decision="deny", reason="eve is not a gateway admin", status=403)

    def test_an_admin_sees_an_audit_record_appear_live(self):
        self.sign_in_with_key(ADMIN)
        self.assertIn("ada", self.text("#signed-in-user"))
        self.find("nav a[href='/ui/admin']").click()
        self.wait_for_path("/ui/admin")
        self.assertTrue(self.text("#policy-digest").startswith("sha256:"))
        self.assertEqual(self.text("#policy-digest"), self.gateway.digest())
        self.screenshot("admin")

        self.find("nav.sub a[href='/ui/admin/access']").click()
        self.wait_for_path("/ui/admin/access")
        users = [th.text for th in self.find_all("#access-matrix tbody th")]
        self.assertEqual(sorted(users), ["ada", "eve", "oli"])
        servers = [th.text for th in self.find_all("#access-matrix thead th")][1:]
        self.assertEqual(sorted(servers), ["acme/notes", "acme/paged", "globex/notes"])
        self.assertEqual(self.find("#access-matrix a[aria-label='oli on acme/notes: denied']").text, "·")
        self.screenshot("access")
        # A cell opens the decision and its reason.
        self.find("#access-matrix a[aria-label='eve on acme/notes: allowed']").click()
        self.wait_for(lambda d: d.find_elements(By.ID, "decision"), "the access decision")
        self.assertIn("eve on acme/notes", self.text("#decision"))
        self.assertIn("allowed", self.text("#decision"))
        self.assertIn("caller", self.text("#decision"))

        # A live MCP session of eve's, for the sessions page; her tools/call comes later on it.
        session = open_mcp_session(self.base, CALLER)
        self.open("/ui/admin/sessions")
        rows = self.wait_for(lambda d: d.find_elements(By.CSS_SELECTOR, "#sessions-table tbody tr"), "the live session's row")
        self.assertIn("eve", rows[0].text)
        self.assertIn("acme/notes", rows[0].text)
        self.screenshot("sessions")

        self.open("/ui/admin/audit")
        self.wait_for_path("/ui/admin/audit")
        # The page is loaded and its live tail is connected (EventSource open) before the call.
        self.wait_for(lambda d: d.find_element(By.ID, "live-status").text.startswith("Live:"), "the live tail to connect")

        def echo_rows(driver):
            found = []
            for row in driver.find_elements(By.CSS_SELECTOR, "#audit-table tbody tr"):
                cells = [cell.text for cell in row.find_elements(By.TAG_NAME, "td")]
                if len(cells) == 7 and cells[1] == "eve" and "echo" in cells[4] and cells[3] == "tools/call":
                    found.append(cells)
            return found

        self.assertEqual(echo_rows(self.driver), [], "no echo call before the page loaded")
        status, _, body = jsonrpc(self.base, "/orgs/acme/servers/notes/mcp", CALLER, {
            "jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "echo", "arguments": {"text": "live"}}}, session)
        self.assertEqual(status, 200, body)
        self.assertNotIn("error", body)
        rows = self.wait_for(echo_rows, "a live audit row for eve's tools/call of echo")
        self.assertEqual(len(rows), 1, rows)
        time_, user, server, method, target, decision, reason = rows[0]
        self.assertEqual((user, server, method, decision), ("eve", "acme/notes", "tools/call", "allow"))
        first = [cell.text for cell in self.find("#audit-table tbody tr").find_elements(By.TAG_NAME, "td")]
        self.assertEqual(first, rows[0], "new records appear at the top")
        self.screenshot("audit")
        self.assertEqual(self.console_errors(), [])

    def audit_rows(self):
        return [[cell.text for cell in row.find_elements(By.TAG_NAME, "td")] for row in self.find_all("#audit-table tbody tr")]

    def test_the_audit_filters_start_empty_and_narrow_the_records(self):
        session = open_mcp_session(self.base, CALLER)
        self.sign_in_with_key(ADMIN)
        self.open("/ui/admin/audit")
        self.wait_for(lambda d: d.find_element(By.ID, "live-status").text.startswith("Live:"), "the live tail to connect")
        users = {row[1] for row in self.audit_rows()}
        self.assertEqual(users, {"ada", "eve"}, "unfiltered: everyone's records")
        self.assertEqual(
            (self.find("#f-user").get_attribute("value"), self.find("#f-server").get_attribute("value"),
             self.find("#f-decision").get_attribute("value")), ("", "", ""),
            "with no filter in the URL, the filter fields are empty (not the signed-in admin's name)")

        # Filter by user and decision through the form; the live tail follows the same filter.
        self.find("#f-user").send_keys("eve")
        self.find("#f-decision option[value='deny']").click()
        self.find("#audit-filters button[type=submit]").click()
        self.wait_for(lambda d: "decision=deny" in d.current_url, "the filtered audit page")
        self.wait_for(lambda d: d.find_element(By.ID, "live-status").text.startswith("Live:"), "the filtered live tail to connect")
        self.assertEqual(self.find("#f-user").get_attribute("value"), "eve", "the field shows the filter in effect")
        self.assertEqual(self.audit_rows(), [], "eve has no denied record yet")
        for tool in ("echo", "delete_note"):
            jsonrpc(self.base, "/orgs/acme/servers/notes/mcp", CALLER, {
                "jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": tool, "arguments": {"text": "x", "name": "x"}}}, session)
        rows = self.wait_for(lambda d: self.audit_rows(), "eve's denied call, live")
        time.sleep(0.5)  # had the allowed echo come through the filter, it would be here by now
        rows = self.audit_rows()
        self.assertEqual([(r[1], r[3], r[4], r[5]) for r in rows], [("eve", "tools/call", "delete_note", "deny")])

    def test_signing_out_ends_the_session(self):
        self.sign_in_with_key(CALLER)
        cookie = self.session_cookie()["value"]
        self.assertEqual(self.fetch("/ui/", cookie)[0], 200, "the cookie works before signing out")
        self.submit(self.find("#signout"), "/ui/signin")
        self.assertIsNone(self.session_cookie(), "signing out removes the cookie")
        self.open("/ui/")
        self.wait_for_path("/ui/signin")
        self.assertTrue(self.find_all("#key"), "the sign-in form")
        status, headers, _ = self.fetch("/ui/", cookie)
        self.assertEqual((status, headers.get("Location")), (303, "/ui/signin"), "the old cookie no longer works")
        self.assert_audited(user="eve", decision="allow", reason="signed out of the dashboard")

    def test_a_reload_that_removes_the_key_signs_the_browser_out(self):
        self.sign_in_with_key(CALLER)
        cookie = self.session_cookie()["value"]
        document = dashboard_policy()
        document["users"]["eve"]["keys"] = []
        self.gateway.reload(document)
        self.open("/ui/")
        self.wait_for_path("/ui/signin")
        self.assertTrue(self.find_all("#key"), "the sign-in form")
        status, headers, _ = self.fetch("/ui/", cookie)
        self.assertEqual((status, headers.get("Location")), (303, "/ui/signin"), "the old cookie no longer works")
        # Her key no longer signs in either.
        self.find("#key").send_keys(CALLER)
        self.find("#signin-key").click()
        self.wait_for(lambda d: d.find_element(By.ID, "signin-error"), "the refused key's error")
        # Another user's browser is unaffected by the reload.
        self.driver.execute_cdp_cmd("Network.clearBrowserCookies", {})
        self.sign_in_with_key(OUTSIDER)
        self.assertEqual(sorted(li.get_attribute("data-server") for li in self.find_all("li.server")), ["globex/notes"])


def script_policy():
    document = dashboard_policy()
    document["orgs"]["acme"]["servers"]["notes"]["description"] = "Notes " + SCRIPT + " end"
    return document


class HostileDescriptionTest(BrowserTestCase):
    document = staticmethod(script_policy)

    def assert_shown_as_text(self, css):
        element = self.find(css)
        self.assertTrue(element.is_displayed())
        self.assertEqual(element.text, "Notes " + SCRIPT + " end", "the description is shown as text")
        self.assertEqual(self.driver.execute_script("return typeof window.pwned"), "undefined")
        self.assertEqual(self.driver.execute_script("return document.querySelectorAll('main script').length"), 0)
        with self.assertRaises(NoAlertPresentException):
            self.driver.switch_to.alert.text  # noqa: B018 - the lookup is the check

    def test_a_description_with_a_script_is_shown_as_text(self):
        self.sign_in_with_key(CALLER)
        self.assert_shown_as_text('li.server[data-server="acme/notes"] p.description')
        self.find('li.server[data-server="acme/notes"] h3 a').click()
        self.wait_for_path("/ui/servers/acme/notes")
        self.assert_shown_as_text("main > p.description")
        violations = [m for m in self.console_errors() if "Content Security Policy" in m]
        self.assertEqual(violations, [], "no script was even attempted")


# --- sign-in through an auth.oidc issuer ------------------------------------------------------

CLIENT_ID = "orch-dashboard"
CLIENT_SECRET = "dashboard-" + os.urandom(12).hex()
SUB = "eve-browser-0001"


class OIDCSignInTest(BrowserTestCase):
    """oidc-provider-mock as the issuer `sso`, with a client for the dashboard. The provider takes
    any client id by default; here `orch-dashboard` is registered in its storage (the package's
    Client, as its /oauth2/clients endpoint stores one) with the secret and the gateway's callback
    as its only redirect URI, so a wrong secret or redirect URI is refused, as a real provider does."""

    env = {"ORCH_OIDC_SECRET": CLIENT_SECRET}

    def document(self):
        document = dashboard_policy()
        document["auth"] = {"oidc": {"sso": {"issuer": self.provider.issuer,
                                             "client": {"id": CLIENT_ID, "secret": "${env:ORCH_OIDC_SECRET}"}}}}
        document["users"]["eve"]["email"] = "eve@example.com"
        return document

    def setUp(self):
        # authlib's own deprecation of what oidc-provider-mock 0.3.4 calls: not this test's concern.
        warnings.filterwarnings("ignore", message=r"get_jwt_config", category=DeprecationWarning)
        self.provider = OIDCProvider()
        self.provider.start()
        self.addCleanup(self.provider.stop)
        super().setUp()

    def register(self, secret, site=None):
        """orch-dashboard in the provider's storage: `secret`, the gateway's callback, Basic auth."""
        self.provider._storage.store_client(provider_storage.Client(
            id=CLIENT_ID, secret=secret, redirect_uris=[(site or self.base) + "/ui/oidc/callback"],
            allowed_scopes=provider_storage.Client.SCOPES_SUPPORTED, token_endpoint_auth_method="client_secret_basic"))

    def authorize_at_the_provider(self, sub, site=None):
        """From the sign-in page: the sso link, the provider's form filled in as `sub`, submitted."""
        site = site or self.base
        self.open("/ui/signin", site)
        link = self.wait_for(lambda d: d.find_element(By.ID, "signin-sso"), "the sso sign-in link")
        self.assertEqual(link.text, "Sign in with sso")
        link.click()
        field = self.wait_for(lambda d: d.find_element(By.CSS_SELECTOR, "input[name=sub]"), "the provider's authorization form")
        self.assertTrue(self.driver.current_url.startswith(self.provider.authorization_endpoint + "?"), self.driver.current_url)
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.driver.current_url).query)
        self.assertEqual((query["client_id"], query["redirect_uri"], query["code_challenge_method"], query["scope"]),
                         ([CLIENT_ID], [site + "/ui/oidc/callback"], ["S256"], ["openid email"]))
        field.send_keys(sub)
        field.find_element(By.XPATH, "ancestor::form//button[@type='submit']").click()

    def test_signing_in_through_the_issuer_lands_signed_in(self):
        self.register(CLIENT_SECRET)
        self.provider.set_user(SUB, email="eve@example.com", email_verified=True)
        self.authorize_at_the_provider(SUB)
        self.wait_for_path("/ui/")
        self.assertIn("eve", self.text("#signed-in-user"))
        self.assertIn("signed in with sso", self.text("#signed-in-user"))
        self.assertEqual(sorted(li.get_attribute("data-server") for li in self.find_all("li.server")), ["acme/notes", "acme/paged"])
        cookie = self.session_cookie()
        self.assertEqual((cookie["httpOnly"], cookie["sameSite"], cookie["path"]), (True, "Strict", "/ui"))
        self.assertIsNone(self.driver.get_cookie("orch_oidc"), "the state cookie is for /ui/oidc only")
        self.assertIn(("POST", "/oauth2/token", 200), self.provider.requests)
        self.assert_audited(user="eve", issuer="sso", decision="allow", reason="signed in to the dashboard with sso")
        # Her keys page says how she signed in.
        self.find("nav a[href='/ui/keys']").click()
        self.wait_for_path("/ui/keys")
        self.assertIn("signed in with sso", self.text("main"))
        self.assertEqual(self.console_errors(), [])

    def test_signing_in_from_another_site_lands_signed_in(self):
        # The gateway as http://localhost:PORT (its publicURL), the provider at 127.0.0.1: two
        # sites, as a deployment and its issuer are (on one host name, as in the test above, the
        # provider's site is the gateway's). The browser comes back from the provider's site
        # through redirects (the callback, then /ui/) and must land on /ui/ signed in.
        site = self.base.replace("127.0.0.1", "localhost")
        document = self.document()
        document["gateway"]["publicURL"] = site
        self.gateway.reload(document)
        self.register(CLIENT_SECRET, site)
        self.provider.set_user(SUB, email="eve@example.com", email_verified=True)
        self.authorize_at_the_provider(SUB, site)
        self.wait_for(lambda d: d.current_url.startswith(site + "/ui/") and not d.current_url.startswith(site + "/ui/oidc/")
                      and d.execute_script("return document.readyState") == "complete", "the gateway's page after the callback")
        if self.driver.current_url != site + "/ui/":
            cookie = self.session_cookie()
            signed_in = bool(self.audit_where(reason="signed in to the dashboard with sso"))
            self.fail("after signing in at the provider the browser shows %s, not /ui/. The gateway %s the sign-in, and the "
                      "browser holds %s. (When the sign-in succeeded and the cookie is there, the likely cause: a SameSite=Strict "
                      "cookie set at the end of redirects that began on another site is not sent with the redirect to /ui/.)\n%s"
                      % (self.driver.current_url, "audited" if signed_in else "did not audit",
                         "an orch_session cookie (SameSite=%s)" % cookie.get("sameSite") if cookie else "no orch_session cookie",
                         self.diagnostics()))
        self.assertIn("eve", self.text("#signed-in-user"))
        self.assertIn("signed in with sso", self.text("#signed-in-user"))

    def test_a_wrong_client_secret_is_explained_on_the_sign_in_page(self):
        self.register("not-" + CLIENT_SECRET)
        self.provider.set_user(SUB, email="eve@example.com", email_verified=True)
        self.authorize_at_the_provider(SUB)
        self.wait_for(lambda d: d.current_url.startswith(self.base + "/ui/oidc/callback?"), "the gateway's callback")
        error = self.wait_for(lambda d: d.find_element(By.ID, "signin-error"), "the sign-in page's error")
        self.assertEqual(error.text, "sso did not hand over a token.")
        self.assertIsNone(self.session_cookie())
        self.assertIn(("POST", "/oauth2/token", 401), self.provider.requests)

    def test_an_issuer_user_without_an_orch_user_is_refused(self):
        self.register(CLIENT_SECRET)
        self.provider.set_user("stranger-1", email="stranger@example.com", email_verified=True)
        self.authorize_at_the_provider("stranger-1")
        error = self.wait_for(lambda d: d.find_element(By.ID, "signin-error"), "the sign-in page's error")
        self.assertIn("orch.json has no enabled user for you", error.text)
        self.assertIsNone(self.session_cookie())


if __name__ == "__main__":
    started = time.time()
    program = unittest.main(verbosity=2, exit=False)
    sys.stderr.write("test_dashboard: %.1f s\n" % (time.time() - started))
    sys.exit(not program.result.wasSuccessful())
