"""Headless Chromium through Selenium for the dashboard's end-to-end tests (test_dashboard.py).

Debian's `chromium` and `chromium-driver` (/usr/bin/chromium, /usr/bin/chromedriver; override with
ORCH_CHROMIUM / ORCH_CHROMEDRIVER) and `selenium` from PyPI (in .venv-mcp1). One browser serves a
whole test class (`BrowserTestCase`); each test gets its own gateway (GatewayTestCase) and starts
with no cookies. Every wait is bounded (WAIT seconds). When a test fails, the page it was on (URL,
the tail of its source), the browser's console and the gateway's log are printed.

The browser resolves no host but 127.0.0.1 and localhost (`--host-resolver-rules`): the tests are
hermetic, and a page that links a CDN (oidc-provider-mock's form links pico.css) does not wait on
DNS.

Screenshots (`screenshot(name)`) are written to docs/screenshots/NAME.png only when the environment
has ORCH_SCREENSHOTS=1, so that `make test` never rewrites tracked files.
"""
import json
import os
import sys
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

from selenium import webdriver  # noqa: E402
from selenium.common.exceptions import (  # noqa: E402
    NoSuchElementException, StaleElementReferenceException, TimeoutException, WebDriverException)
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

from mcp_fixtures import WAIT, GatewayTestCase  # noqa: E402
from orchserver import ROOT  # noqa: E402

CHROMIUM = os.environ.get("ORCH_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("ORCH_CHROMEDRIVER", "/usr/bin/chromedriver")
WINDOW = (1280, 900)
SCREENSHOTS = os.path.join(ROOT, "docs", "screenshots")
WRITE_SCREENSHOTS = os.environ.get("ORCH_SCREENSHOTS") == "1"


def start_chromium():
    """A headless Chromium (new headless mode) with a 1280x900 window."""
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     "--window-size=%d,%d" % WINDOW, "--no-first-run", "--no-default-browser-check",
                     "--password-store=basic", "--disable-extensions", "--disable-background-networking",
                     "--disable-component-update", "--disable-sync", "--hide-scrollbars",
                     "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    # The window's viewport is smaller than the window (headless Chromium keeps room for its
    # toolbar): the page itself is laid out, and screenshotted, at 1280x900.
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": WINDOW[0], "height": WINDOW[1], "deviceScaleFactor": 1, "mobile": False})
    driver.set_page_load_timeout(WAIT)
    driver.set_script_timeout(WAIT)
    return driver


def signed_in_chromium(test, base, key):
    """A headless Chromium (quit at `test`'s cleanup) signed in to the dashboard at `base` with
    `key`, and a wait on it: (driver, wait). The wait tries again on elements of a page the
    browser is leaving, which go stale."""
    driver = start_chromium()
    test.addCleanup(driver.quit)
    wait = WebDriverWait(driver, WAIT, poll_frequency=0.05, ignored_exceptions=(NoSuchElementException, StaleElementReferenceException))
    driver.get(base + "/ui/signin")
    wait.until(lambda d: d.find_element(By.ID, "key")).send_keys(key)
    driver.find_element(By.ID, "signin-key").click()
    wait.until(lambda d: d.current_url == base + "/ui/")
    return driver, wait


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def fetch(url, cookies=None, method="GET", data=None, headers=None):
    """(status, headers, body text) of one plain HTTP request, redirects not followed; `cookies`
    a dict sent as the Cookie header."""
    request = urllib.request.Request(url, method=method, data=data, headers=dict(headers or {}))
    if cookies:
        request.add_header("Cookie", "; ".join("%s=%s" % item for item in cookies.items()))
    try:
        with _OPENER.open(request, timeout=WAIT) as response:
            return response.status, response.headers, response.read().decode(errors="replace")
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read().decode(errors="replace")


class BrowserTestCase(GatewayTestCase):
    """GatewayTestCase with a Chromium shared by the class. Each test starts with no cookies and no
    permissions; the page helpers address the test's gateway."""

    driver = None

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.driver = start_chromium()

    @classmethod
    def tearDownClass(cls):
        if cls.driver is not None:
            cls.driver.quit()
            cls.driver = None
        super().tearDownClass()

    def setUp(self):
        super().setUp()
        self.console = []
        self._diagnosed = False
        self.driver.execute_cdp_cmd("Network.clearBrowserCookies", {})
        self.driver.execute_cdp_cmd("Browser.resetPermissions", {})
        self.driver.get("about:blank")  # off the last test's page (an audit page's live tail)
        self.forget_console()  # and its console
        self.addCleanup(self._report_failure)

    # --- pages -----------------------------------------------------------------------------------

    @property
    def base(self):
        return self.gateway.base

    def open(self, path, base=None):
        self.driver.get((base or self.base) + path)

    def find(self, css):
        return self.driver.find_element(By.CSS_SELECTOR, css)

    def find_all(self, css):
        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def text(self, css):
        return self.find(css).text

    def wait_for(self, condition, what, timeout=WAIT):
        """WebDriverWait(condition) within `timeout` seconds; on timeout the test fails naming
        `what`, with the page, the console and the gateway's log."""
        try:
            # Elements of a page the browser is leaving go stale: the condition is tried again.
            return WebDriverWait(self.driver, timeout, poll_frequency=0.05,
                                 ignored_exceptions=(NoSuchElementException, StaleElementReferenceException)).until(condition)
        except TimeoutException:
            self.fail("timed out after %d s waiting for %s\n%s" % (timeout, what, self.diagnostics()))

    def wait_for_path(self, path, base=None):
        """Until the browser is at `path` (exactly, on the gateway's origin unless `base`)."""
        url = (base or self.base) + path
        self.wait_for(lambda d: d.current_url == url and d.execute_script("return document.readyState") == "complete",
                      "the browser to be at %s (it is at %s)" % (url, self.driver.current_url))

    def submit(self, button, path, base=None):
        """Clicks `button` (a form's submit button) and waits until the browser is at `path`. When
        the gateway answers with an error instead (a JSON error document, or the sign-in page's
        error message), the test fails at once, quoting it."""
        url = (base or self.base) + path
        old = self.driver.find_element(By.TAG_NAME, "html")
        button.click()

        def landed(driver):
            try:
                if driver.execute_script("return document.readyState") != "complete":
                    return False
                if driver.current_url == url:
                    return "arrived"
                page = driver.find_element(By.TAG_NAME, "html")
                if page == old:
                    return False  # still the page of the form
                if driver.find_elements(By.ID, "signin-error") or page.text.lstrip().startswith("{"):
                    return "refused"
            except WebDriverException:
                return False  # between two pages
            return False

        if self.wait_for(landed, "the browser to be at %s after submitting the form" % url) == "refused":
            self.fail("submitting the form at %s did not lead to %s: the gateway answered %s with:\n%s\n%s"
                      % (self.driver.current_url, path, self.driver.current_url, self.find("body").text[:1000], self.diagnostics()))
        self.wait_for_path(path, base)

    def sign_in_with_key(self, key, base=None):
        """Types `key` into the sign-in form and submits it: the browser lands on /ui/."""
        self.open("/ui/signin", base)
        field = self.wait_for(lambda d: d.find_element(By.ID, "key"), "the sign-in form's key field")
        field.send_keys(key)
        self.submit(self.find("#signin-key"), "/ui/", base)

    def session_cookie(self):
        """The browser's orch_session cookie (a WebDriver cookie dict), or None."""
        return self.driver.get_cookie("orch_session")

    def fetch(self, path, cookie=None, base=None, **kwargs):
        """A plain request (urllib, no redirects) carrying orch_session=`cookie` if given."""
        return fetch((base or self.base) + path, {"orch_session": cookie} if cookie else None, **kwargs)

    def screenshot(self, name):
        """docs/screenshots/NAME.png of the window as it is, with ORCH_SCREENSHOTS=1 only."""
        if not WRITE_SCREENSHOTS:
            return
        os.makedirs(SCREENSHOTS, exist_ok=True)
        self.driver.execute_script("window.scrollTo(0, 0); if (document.activeElement) document.activeElement.blur();")
        if not self.driver.save_screenshot(os.path.join(SCREENSHOTS, name + ".png")):
            self.fail("could not save the screenshot %s" % name)

    def console_messages(self):
        """Every browser console entry so far in this test (level, message)."""
        try:
            self.console += [(entry["level"], entry["message"]) for entry in self.driver.get_log("browser")]
        except WebDriverException:
            pass
        return self.console

    def forget_console(self):
        """Drops the console's entries so far (after a step that fails a request on purpose)."""
        self.console_messages()
        self.console = []

    def console_errors(self):
        """The console's errors about the gateway's pages (script errors, refused resources, CSP
        violations), but the favicon's 404 (the dashboard serves none); another site's (the OIDC
        provider's CDN stylesheet, never resolved here) are not the dashboard's."""
        return [message for level, message in self.console_messages()
                if level == "SEVERE" and message.startswith(self.base + "/") and "favicon.ico" not in message]

    # --- failure reports ---------------------------------------------------------------------------

    def diagnostics(self):
        self._diagnosed = True  # the failure message has them: _report_failure need not print them again
        try:
            url = self.driver.current_url
            source = self.driver.page_source
        except WebDriverException as error:
            url, source = "(unknown)", "(the browser did not answer: %s)" % error
        console = "\n".join("%s %s" % entry for entry in self.console_messages()) or "(empty)"
        return ("--- browser at %s; page source (tail):\n%s\n--- browser console:\n%s\n%s"
                % (url, source[-3000:], console, super().diagnostics()))

    def _report_failure(self):
        outcome = getattr(self, "_outcome", None)
        if outcome is not None and getattr(outcome, "success", True) is False and not getattr(self, "_diagnosed", False):
            sys.stderr.write("\n=== %s failed; the browser and gateway then:\n%s\n" % (self.id(), self.diagnostics()))


def jsonrpc(base, path, token, body, session=None):
    """(status, headers, parsed JSON) of one JSON-RPC POST to the gateway."""
    headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream",
               "Authorization": "Bearer " + token}
    if session:
        headers["Mcp-Session-Id"] = session
    status, response_headers, text = fetch(base + path, method="POST", data=json.dumps(body).encode(), headers=headers)
    try:
        return status, response_headers, json.loads(text) if text else None
    except ValueError:
        return status, response_headers, text


def open_mcp_session(base, token, path="/orgs/acme/servers/notes/mcp"):
    """An initialized MCP session over plain JSON-RPC POSTs: its Mcp-Session-Id."""
    status, headers, body = jsonrpc(base, path, token, {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "dashboard-e2e", "version": "1"}}})
    if status != 200 or not headers.get("Mcp-Session-Id"):
        raise AssertionError("initialize: %s %s" % (status, body))
    session = headers["Mcp-Session-Id"]
    status, _, body = jsonrpc(base, path, token, {"jsonrpc": "2.0", "method": "notifications/initialized"}, session)
    if status != 202:
        raise AssertionError("notifications/initialized: %s %s" % (status, body))
    return session
