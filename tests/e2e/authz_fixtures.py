"""Shared fixtures of the authorization suites (test_authz_sdk1.py, test_authz_sdk2.py): the
orch.json they run, their tokens, a notification recorder, and assertions on the gateway's
refusals and audit records. Stdlib and anyio only, so both SDK venvs can import it.

The policy (`authz_policy()`), all in org acme:

  servers  notes      `orch sample-server`
           tapped     the same behind a tap recording every message that reaches it (with `tap`)
           paged      `orch sample-server --page-size 1` (every list one item a page)
           filtered   `orch sample-server` with the server's own filters: tools deny now and
                      delete_*, prompts allow only summarize, resources deny notes://index
  users    ada        role admin: everything
           eve        role reader (READER_ALLOW / READER_DENY below): some tools, prompts and
                      resources of notes and paged
           tom        role toolsonly: "notes:*", "paged:*" (every tool, no prompt, no resource)
           wes        role watcher: write_note and resources "notes://*" but not notes://index
           sam        role admin, key ci scoped to acme/notes:resources/notes://note/*
           kim        role reader, key soon that expires at `expiring_at` (only when given)
"""
import datetime
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import anyio  # noqa: E402

from mcp_fixtures import AUDIT, ORG, PROMPT, WAIT, GatewayTestCase, sample_server  # noqa: E402
from orchserver import ORCH, sha256  # noqa: E402

ADMIN = "orch_" + secrets.token_urlsafe(32)      # ada
READER = "orch_" + secrets.token_urlsafe(32)     # eve
TOOLSONLY = "orch_" + secrets.token_urlsafe(32)  # tom
WATCHER = "orch_" + secrets.token_urlsafe(32)    # wes
SCOPED = "orch_" + secrets.token_urlsafe(32)     # sam, key ci
EXPIRING = "orch_" + secrets.token_urlsafe(32)   # kim, key soon

ALL_TOOLS = ["add", "delete_note", "echo", "now", "write_note"]
ALL_PROMPTS = ["summarize", "draft_note"]  # the sample server's order
NOTE_TEMPLATE = "notes://note/{name}"

# What test_every_list_is_filtered_on_every_page sees on acme/paged (one item a page, two notes
# written): per list, each page's names and its nextCursor, for ada, eve and tom. Both SDK suites
# check against these.
_ADMIN_TOOLS = [(["add"], "1"), (["delete_note"], "2"), (["echo"], "3"), (["now"], "4"), (["write_note"], None)]
PAGED_LISTS = {
    "admin": {
        "tools": _ADMIN_TOOLS,
        "prompts": [(["summarize"], "1"), (["draft_note"], None)],
        "resources": [(["notes://index"], "1"), (["notes://readme"], "2"), (["notes://note/a"], "3"), (["notes://note/b1"], None)],
        "templates": [([NOTE_TEMPLATE], None)]},
    "reader": {
        "tools": [([], "1"), ([], "2"), (["echo"], "3"), ([], "4"), (["write_note"], None)],
        "prompts": [([], "1"), (["draft_note"], None)],
        "resources": [([], "1"), (["notes://readme"], "2"), ([], "3"), (["notes://note/b1"], None)],
        "templates": [([NOTE_TEMPLATE], None)]},
    "toolsonly": {
        "tools": _ADMIN_TOOLS,
        "prompts": [([], "1"), ([], None)],
        "resources": [([], "1"), ([], "2"), ([], "3"), ([], None)],
        "templates": [([], None)]},
}
SCOPE = "acme/notes:resources/notes://note/*"

READER_ALLOW = [
    "notes:echo", "notes:write_note", "notes:prompts/summarize",
    "notes:resources/notes://readme", "notes:resources/notes://note/*",
    "paged:echo", "paged:write_note", "paged:prompts/draft_note",
    "paged:resources/notes://readme", "paged:resources/notes://note/b*",
]
READER_DENY = ["notes:resources/notes://note/secret*"]


def rfc3339(moment):
    return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def tapped_server(tap):
    """`orch sample-server` behind `tee`: every message the gateway sends it is appended to `tap`."""
    return {"command": "/bin/sh", "args": ["-c", 'tee -a "$TAP" | "$ORCH" sample-server'],
            "env": {"TAP": tap, "ORCH": ORCH}}


def tapped_messages(tap):
    """The JSON-RPC messages the gateway sent the tapped server, in order."""
    if not os.path.exists(tap):
        return []
    with open(tap) as f:
        return [json.loads(line) for line in f if line.strip()]


def authz_policy(reader_allow=None, reader_deny=None, expiring_at=None, paged_page_size=1, tap=None,
                 without_keys=(), filtered_tools=None, scope=None):
    """The orch.json of the authorization suites (see the module's docstring). `reader_allow` and
    `reader_deny` replace role reader's rules (the reload tests narrow and widen it);
    `expiring_at` (a datetime) adds kim, whose key expires then; `tap` (a path) adds acme/tapped,
    the sample server behind a tap that records what reaches it (only ada's role covers it);
    the users in `without_keys` have none; `filtered_tools` replaces acme/filtered's tools
    filter and `scope` sam's key scope."""
    filtered = dict(sample_server(), tools=filtered_tools or {"deny": ["now", "delete_*"]},
                    prompts={"allow": ["summarize"]}, resources={"deny": ["notes://index"]})
    reader = {"allow": list(READER_ALLOW if reader_allow is None else reader_allow)}
    deny = READER_DENY if reader_deny is None else reader_deny
    if deny:
        reader["deny"] = list(deny)
    members = {"ada": "admin", "eve": "reader", "tom": "toolsonly", "wes": "watcher", "sam": "admin"}
    users = {
        "ada": {"keys": [{"id": "laptop", "sha256": sha256(ADMIN)}]},
        "eve": {"keys": [{"id": "laptop", "sha256": sha256(READER)}]},
        "tom": {"keys": [{"id": "laptop", "sha256": sha256(TOOLSONLY)}]},
        "wes": {"keys": [{"id": "laptop", "sha256": sha256(WATCHER)}]},
        "sam": {"keys": [{"id": "ci", "sha256": sha256(SCOPED), "scope": list(scope or [SCOPE])}]},
    }
    for user in without_keys:
        users[user]["keys"] = []
    if expiring_at is not None:
        members["kim"] = "reader"
        users["kim"] = {"keys": [{"id": "soon", "sha256": sha256(EXPIRING), "expires": rfc3339(expiring_at)}]}
    return {
        "version": 1,
        "gateway": {"audit": AUDIT, "limits": {"callTimeoutSeconds": WAIT}},
        "roles": {
            "admin": {"allow": ["*"]},
            "reader": reader,
            "toolsonly": {"allow": ["notes:*", "paged:*"]},
            "watcher": {"allow": ["notes:write_note", "notes:resources/notes://*"],
                        "deny": ["notes:resources/notes://index"]},
        },
        "orgs": {ORG: {"members": members, "servers": dict(
            {"notes": sample_server(), "paged": sample_server(page_size=paged_page_size), "filtered": filtered},
            **({"tapped": tapped_server(tap)} if tap else {}))}},
        "users": users,
        # The file's own tests take prompt and resource targets: the gateway would not load a
        # file whose tests fail.
        "tests": [
            {"user": "eve",
             "allow": ["acme/notes:echo", "acme/notes:prompts/summarize", "acme/notes:resources/notes://note/a"],
             "deny": ["acme/notes:add", "acme/notes:prompts/draft_note", "acme/notes:resources/notes://index",
                      "acme/notes:resources/notes://note/secret1"]},
            {"user": "sam", "key": "ci", "allow": ["acme/notes:resources/notes://note/a"],
             "deny": ["acme/notes:echo", "acme/notes:prompts/summarize", "acme/notes:resources/notes://index"]},
        ] if reader_allow is None and reader_deny is None and scope is None else [],
    }


def not_permitted(kind, name, user, server="notes"):
    """The gateway's -32602 message for a refused item."""
    return "%s %s is not permitted for %s on %s/%s" % (kind, name, user, ORG, server)


def run_orch(*args):
    """(exit status, stdout, stderr) of `orch ARGS…`."""
    done = subprocess.run([ORCH] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          timeout=WAIT)
    return done.returncode, done.stdout, done.stderr


class Notifications:
    """Every notification a client's message handler got, as (method, params dict), in order,
    and a bounded wait for one (PROMPT s: less than the test's own bound, so a missing
    notification fails with what did arrive). `method_of(message)` turns an SDK message into
    (method, params) or None (a request, an exception)."""

    def __init__(self, method_of):
        self.method_of = method_of
        self.seen = []
        self._changed = anyio.Event()

    async def handler(self, message):
        item = self.method_of(message)
        if item is None:
            return
        self.seen.append(item)
        changed, self._changed = self._changed, anyio.Event()
        changed.set()

    def methods(self):
        return [method for method, _ in self.seen]

    def updated_uris(self):
        return [params.get("uri") for method, params in self.seen if method == "notifications/resources/updated"]

    async def wait_for(self, predicate, what, timeout=PROMPT):
        with anyio.move_on_after(timeout):
            while not predicate(self):
                await self._changed.wait()
            return
        raise AssertionError("timed out after %d s waiting for %s; notifications received: %r" % (timeout, what, self.seen))

    async def wait_for_method(self, method, count=1, timeout=PROMPT):
        await self.wait_for(lambda n: n.methods().count(method) >= count, "%d x %s" % (count, method), timeout)


class AuthzTestCase(GatewayTestCase):
    """GatewayTestCase on authz_policy() (with acme/tapped recording to `self.tap`), with
    assertions on refusals and the audit log."""

    def setUp(self):
        folder = tempfile.mkdtemp(prefix="orch-e2e-tap-")
        self.addCleanup(shutil.rmtree, folder, True)
        self.tap = os.path.join(folder, "tapped.jsonl")
        super().setUp()

    def policy(self, **changes):
        """authz_policy(**changes), with the same acme/tapped (a reload keeps its definition)."""
        return authz_policy(tap=self.tap, **changes)

    def document(self):
        return self.policy()

    def tapped(self):
        return tapped_messages(self.tap)

    def assert_refusal(self, code, message, expected_code, expected_message, what):
        self.assertEqual((code, message), (expected_code, expected_message),
                         "%s: expected JSON-RPC error %d %r, got %r %r\n%s"
                         % (what, expected_code, expected_message, code, message, self.diagnostics()))

    def assert_decision_audited(self, user, session, method, kind, target, decision, server="notes"):
        """The audit log holds this decision on one item, and no opposite decision on it."""
        found = self.assert_audited(user=user, org=ORG, server=server, session=session, method=method,
                                    kind=kind, target=target, decision=decision)
        other = "deny" if decision == "allow" else "allow"
        self.assertFalse(self.audit_where(user=user, session=session, method=method, target=target, decision=other),
                         "%s %s %s was audited as %s too:\n%s" % (method, kind, target, other, self.gateway.audit_text()))
        if kind == "tool":
            self.assertEqual(found[0].get("tool"), target, found[0])
        return found[0]

    def raw_post(self, path, message, headers=None):
        """POST `message` (a dict) to the gateway's PATH as-is: (status, headers, body)."""
        all_headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
        all_headers.update(headers or {})
        return self.gateway.server.request(path, method="POST", headers=all_headers, body=json.dumps(message).encode())

    def reload(self, document):
        """The gateway reloads orch.json as `document` (within PROMPT s, less than a test's bound)."""
        return self.gateway.reload(document, timeout=PROMPT)

    def session_end(self, session_id):
        return self.audit_where(session=session_id, method="session end")

    def wait_for_session_end(self, session_id, timeout=PROMPT):
        self.wait_until(lambda: self.session_end(session_id), "the audit record of session %s ending" % session_id,
                        timeout=timeout)
        return self.session_end(session_id)[0]

    def wait_processes_gone(self, pids):
        """Seconds until every pid in `pids` is gone, or None if one still runs after PROMPT s."""
        started = time.time()
        while time.time() - started < PROMPT:
            if not any(self.alive(pid) for pid in pids):
                return time.time() - started
            time.sleep(0.05)
        return None

    def upstream_pids(self):
        return sorted(self.gateway.server.child_pids())

    @staticmethod
    def seconds_until(moment):
        return (moment - datetime.datetime.now(datetime.timezone.utc)).total_seconds()

    @staticmethod
    def expiry(seconds):
        """A whole-second instant at least `seconds` from now (orch.json times are to the second)."""
        now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
        return now + datetime.timedelta(seconds=seconds + 1)
