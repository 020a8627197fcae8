"""Shared, stdlib-only fixtures for the MCP SDK end-to-end tests (test_mcp_sdk1.py, test_mcp_sdk2.py).

A temp folder with an orch.json whose servers are `orch sample-server` over stdio (and, for the
remote test, a FastMCP server over Streamable HTTP), the built `orch serve` on a free port, and
readers for the gateway's audit log.
"""
import hashlib
import json
import secrets
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

from orchserver import ORCH, ROOT, OrchServer, ProcessOutput, sha256  # noqa: E402

ORG = "acme"
AUDIT = "gateway.audit"
WAIT = 30  # seconds: every wait in these tests is bounded by this
# Seconds within which a gateway must notice that a client went away (it sees the connection
# close at once; this leaves ample slack).
PROMPT = 10

# Tokens (never stored: orch.json holds their sha256 only).
CALLER = "orch_" + secrets.token_urlsafe(32)      # eve: notes:echo, notes:add, notes://index
ADMIN = "orch_" + secrets.token_urlsafe(32)      # ada: everything in acme
OUTSIDER = "orch_" + secrets.token_urlsafe(32)    # oli: only in globex
WRONG = "orch_" + secrets.token_urlsafe(32)     # no such key

ALL_SAMPLE_TOOLS = ["add", "delete_note", "echo", "now", "write_note"]


def sample_server(page_size=None):
    args = ["sample-server"]
    if page_size:
        args += ["--page-size", str(page_size)]
    return {"command": ORCH, "args": args}


def policy(extra_servers=None, extra_allow=(), extra_deny=()):
    """The orch.json document of the SDK tests.

    acme/notes is `orch sample-server`, acme/paged the same with `--page-size 2`. eve's role
    allows echo and add on both, reading acme/notes's `notes://index` resource (which the tests
    read to see that a refused write_note never ran), and `extra_allow`; ada's role allows
    everything in acme, and oli is a member of globex only, so acme's servers answer him 404.
    """
    servers = {"notes": sample_server(), "paged": sample_server(page_size=2)}
    servers.update(extra_servers or {})
    caller = {"allow": ["notes:echo", "notes:add", "notes:resources/notes://index", "paged:echo", "paged:add"]
              + list(extra_allow)}
    if extra_deny:
        caller["deny"] = list(extra_deny)
    return {
        "version": 1,
        "gateway": {"audit": AUDIT, "limits": {"callTimeoutSeconds": WAIT}},
        "roles": {
            "admin": {"allow": ["*"]},
            "caller": caller,
        },
        "orgs": {
            ORG: {"members": {"eve": "caller", "ada": "admin"}, "servers": servers},
            "globex": {"members": {"oli": "admin"}, "servers": {"notes": sample_server()}},
        },
        "users": {
            "eve": {"keys": [{"id": "laptop", "sha256": sha256(CALLER)}]},
            "ada": {"keys": [{"id": "laptop", "sha256": sha256(ADMIN)}]},
            "oli": {"keys": [{"id": "laptop", "sha256": sha256(OUTSIDER)}]},
        },
    }


class GatewayFixture:
    """A temp folder with orch.json, and `orch serve` on it; `close()` stops and removes both."""

    def __init__(self, document=None, env=None):
        self.folder = tempfile.mkdtemp(prefix="orch-e2e-sdk-")
        self.path = os.path.join(self.folder, "orch.json")
        with open(self.path, "w") as f:
            json.dump(document or policy(), f, indent=2)
        self.server = None
        try:
            self.server = OrchServer(self.path, env=env)
        except BaseException:
            shutil.rmtree(self.folder, ignore_errors=True)
            raise
        self.base = self.server.base

    def digest(self):
        """The digest of the policy the gateway runs now, as /readyz shows it."""
        return self.server.request("/readyz")[2]["policy"]

    def reload(self, document, timeout=WAIT):
        """Replace orch.json with `document` as an editor does (a temp file in the same folder,
        renamed over it) and wait until the gateway runs it: /readyz shows its digest, the
        sha256 of the file's bytes. Returns the new digest."""
        data = json.dumps(document, indent=2).encode()
        expected = "sha256:" + hashlib.sha256(data).hexdigest()
        temp = self.path + ".tmp"
        with open(temp, "wb") as f:
            f.write(data)
        os.replace(temp, self.path)
        if not self.server.wait_until(lambda: self.digest() == expected, timeout=timeout):
            raise AssertionError("the gateway did not load the new orch.json (%s) within %d s; it runs %s; log:\n%s"
                                 % (expected, timeout, self.digest(), self.log_text()))
        return expected

    def url(self, server="notes", transport="mcp", org=ORG):
        return "%s/orgs/%s/servers/%s/%s" % (self.base, org, server, transport)

    def audit_records(self):
        path = os.path.join(self.folder, AUDIT)
        if not os.path.exists(path):
            return []
        with open(path) as f:
            return [json.loads(line) for line in f if line.strip()]

    def audit_text(self):
        path = os.path.join(self.folder, AUDIT)
        if not os.path.exists(path):
            return ""
        with open(path) as f:
            return f.read()

    def log_text(self):
        # Whatever orch has printed so far, without waiting.
        return "\n".join(self.server.output.collect())

    def close(self):
        try:
            if self.server is not None:
                self.server.stop()
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)


def exception_chain(error):
    """Every exception inside `error`: causes, contexts and the members of exception groups."""
    seen, out, todo = set(), [], [error]
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        out.append(e)
        todo.extend(getattr(e, "exceptions", ()) or ())
        todo.append(e.__cause__)
        todo.append(e.__context__)
    return out


def describe(error):
    return "\n".join("%s: %s" % (type(e).__name__, e) for e in exception_chain(error))


# --- the remote upstream (a FastMCP server over Streamable HTTP) -----------------------------

def venv_with_fastmcp():
    """The python of the venv whose SDK has `mcp.server.fastmcp.FastMCP` (mcp 1.x)."""
    candidates = [os.environ.get("ORCH_FASTMCP_PYTHON"),
                  os.path.join(ROOT, ".venv-mcp1", "bin", "python"),
                  os.path.join(ROOT, ".venv-mcp2", "bin", "python"),
                  sys.executable]
    for python in candidates:
        if not python or not os.path.exists(python):
            continue
        probe = subprocess.run([python, "-c", "from mcp.server.fastmcp import FastMCP; import uvicorn"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if probe.returncode == 0:
            return python
    raise AssertionError("no venv with mcp.server.fastmcp.FastMCP and uvicorn among %r" % candidates)


class RemoteUpstream:
    """tests/e2e/remote_upstream.py in a subprocess: a FastMCP server on a free loopback port
    whose /mcp needs `X-Upstream-Key: KEY`, recording every request's headers (and every tool it
    runs) as JSON lines in `record_path`."""

    script, says = "remote_upstream.py", "remote upstream"

    def __init__(self, key, record_path):
        self.start(record_path, UPSTREAM_EXPECTED_KEY=key)

    def start(self, record_path, **env):
        """Runs `script` with `env` and UPSTREAM_RECORD, until it prints `SAYS listening on 127.0.0.1:PORT`."""
        self.record_path = record_path
        env = dict(os.environ, UPSTREAM_RECORD=record_path, **env)
        self.process = subprocess.Popen(
            [venv_with_fastmcp(), os.path.join(HERE, self.script)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        self.output = ProcessOutput(self.process, (self.process.stdout,))
        try:
            line = self.output.wait_for(self.says + r" listening on 127\.0\.0\.1:(\d+)", WAIT)
        except AssertionError:
            self.stop()
            raise
        self.port = int(re.search(r":(\d+)", line).group(1))
        self.url = "http://127.0.0.1:%d/mcp" % self.port

    def records(self):
        if not os.path.exists(self.record_path):
            return []
        with open(self.record_path) as f:
            return [json.loads(line) for line in f if line.strip()]

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.output.close()


# --- what the SDK's HTTP client saw ------------------------------------------------------------

def _text(value):
    return value.decode("latin-1") if isinstance(value, bytes) else str(value or "")


class HTTPLog:
    """Every HTTP response an SDK's httpx (or httpx2) client received, recorded by a response
    event hook: method, path, status, content type, Mcp-Session-Id, WWW-Authenticate and, for
    JSON bodies, the parsed body. Printed in failure messages so a gateway bug shows its exchange."""

    def __init__(self):
        self.entries = []

    async def hook(self, response):
        content_type = response.headers.get("content-type", "")
        entry = {"method": response.request.method, "path": response.request.url.path,
                 "query": _text(response.request.url.query),
                 "status": response.status_code, "contentType": content_type,
                 "protocolVersionSent": response.request.headers.get("mcp-protocol-version"),
                 "sessionSent": response.request.headers.get("mcp-session-id"),
                 "session": response.headers.get("mcp-session-id"),
                 "wwwAuthenticate": response.headers.get("www-authenticate")}
        request_body = getattr(response.request, "content", b"") or b""
        try:
            entry["request"] = json.loads(request_body) if request_body else None
        except ValueError:
            entry["request"] = request_body[:500].decode("latin-1")
        if content_type.startswith("application/json"):
            raw = await response.aread()
            try:
                entry["body"] = json.loads(raw)
            except ValueError:
                entry["body"] = raw[:500].decode("latin-1")
        self.entries.append(entry)

    def statuses(self):
        return [(e["method"], e["status"]) for e in self.entries]

    def __str__(self):
        return "\n".join(json.dumps(e, sort_keys=True) for e in self.entries) or "(no HTTP responses)"


# --- the test case base ----------------------------------------------------------------------

class GatewayTestCase(unittest.TestCase):
    """Each test: its own temp folder, orch.json and `orch serve` (stopped in cleanup), an
    HTTPLog for the SDK's HTTP traffic, and `run(async_fn)` bounded by WAIT seconds."""

    document = None  # orch.json; None: policy()
    env = None       # extra environment of `orch serve`

    def setUp(self):
        self.gateway = GatewayFixture(self.document() if callable(self.document) else self.document, env=self.env)
        self.addCleanup(self.gateway.close)
        self.http = HTTPLog()

    def http_client_factory(self, headers=None, timeout=None, auth=None):
        """The SDK's own httpx client (either SDK's), recording each response in `self.http`."""
        from mcp.shared._httpx_utils import create_mcp_http_client

        client = create_mcp_http_client(headers=headers, timeout=timeout, auth=auth)
        client.event_hooks["response"].append(self.http.hook)
        return client

    def run_async(self, fn, *args, timeout=WAIT):
        """anyio.run(fn, *args) within `timeout` seconds. A failed assertion inside the SDK's
        task groups is unwrapped from its exception groups; anything else fails the test with
        the exception chain, the HTTP exchange and the gateway's log."""
        import anyio

        async def bounded():
            with anyio.fail_after(timeout):
                return await fn(*args)

        try:
            return anyio.run(bounded)
        except BaseException as error:  # noqa: B902 - ExceptionGroup, TimeoutError, SDK errors
            if isinstance(error, KeyboardInterrupt):
                raise
            leaves = [e for e in exception_chain(error) if isinstance(e, AssertionError)]
            if leaves:
                raise AssertionError("%s\n%s" % (leaves[0], self.diagnostics())) from leaves[0]
            raise AssertionError("%s\n%s" % (describe(error), self.diagnostics())) from error

    def diagnostics(self):
        return ("--- HTTP responses the SDK received:\n%s\n--- audit:\n%s--- orch log (tail):\n%s"
                % (self.http, self.gateway.audit_text(), "\n".join(self.gateway.log_text().splitlines()[-40:])))

    def wait_until(self, condition, what, timeout=WAIT):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if condition():
                return
            time.sleep(0.05)
        if not condition():
            self.fail("timed out after %d s waiting for %s\n%s" % (timeout, what, self.diagnostics()))

    # audit ------------------------------------------------------------------------------------

    def audit_where(self, **fields):
        return [r for r in self.gateway.audit_records() if all(r.get(k) == v for k, v in fields.items())]

    def assert_audited(self, **fields):
        """The audit log already holds a record with these fields (it is written before the
        response is returned, so no waiting)."""
        found = self.audit_where(**fields)
        self.assertTrue(found, "no audit record with %r in:\n%s" % (fields, self.gateway.audit_text()))
        return found

    def assert_no_secret_in_audit(self, *secrets):
        text = self.gateway.audit_text()
        for secret in secrets:
            self.assertNotIn(secret, text)
            self.assertNotIn(sha256(secret), text)

    def assert_session_id(self, value):
        """A Streamable HTTP session's id is sealed (s1.KEY.BOX, at most 512 characters), a legacy
        SSE session's or a held upstream session's 128 random bits in hex."""
        self.assertIsNotNone(value, "no session id\n" + self.diagnostics())
        self.assertRegex(value, r"^([0-9a-f]{32}|s1\.[0-9a-f]{8}\.[A-Za-z0-9_-]{40,})$", "not a session id of the gateway's")
        self.assertLessEqual(len(value), 512)

    @staticmethod
    def alive(pid):
        """Whether process `pid` is running (a zombie is not)."""
        try:
            with open("/proc/%d/stat" % pid) as f:
                return f.read().rsplit(")", 1)[1].split()[0] != "Z"
        except OSError:
            return False

    def assert_processes_end(self, pids, timeout=WAIT):
        """Every pid in `pids` is gone (or a zombie) within `timeout` seconds."""
        self.wait_until(lambda: not any(self.alive(pid) for pid in pids),
                        "the upstream processes %r to end" % (pids,), timeout=timeout)

    def assert_closing_ends_session(self, session_id, upstream_pids, closed_at, within):
        """After the client closed (at `closed_at`): the audit records the end of `session_id` and
        its upstream processes exit, both within `within` seconds. When not, the failure says when
        (if at all, up to 2 x WAIT) each happened."""
        checks = {"the session ended": lambda: self.audit_where(session=session_id, method="session end"),
                  "its upstream stopped": lambda: not any(self.alive(pid) for pid in upstream_pids)}
        when = {}
        while len(when) < len(checks) and time.time() - closed_at < max(within, 2 * WAIT):
            for name, check in checks.items():
                if name not in when and check():
                    when[name] = time.time() - closed_at
            time.sleep(0.05)
        late = {name: when.get(name) for name in checks if when.get(name) is None or when[name] > within}
        if late:
            self.fail("after the client closed, session %s should end and its upstream %r stop within %d s; %s\n%s"
                      % (session_id, upstream_pids, within,
                         "; ".join("%s %s" % (name, "only after %.1f s" % t if t is not None else
                                              "not within %d s" % max(within, 2 * WAIT))
                                   for name, t in late.items()),
                         self.diagnostics()))
