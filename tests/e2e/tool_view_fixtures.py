"""Shared, stdlib-only fixtures of the tool-view tests (test_tool_views_sdk1.py, test_tool_views_sdk2.py)."""
import os
import secrets
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

from mcp_fixtures import ORCH, ORG, policy, sha256  # noqa: E402

EMPTY = "orch_" + secrets.token_urlsafe(32)  # cat: only a prompt of acme/notes


def tool_views_policy(flag):
    """policy() with acme/notes's echo shown as `say` and its `now` hidden, acme's toolset
    `basics`, a server `flaky` that starts only once `flag` exists, and cat, who may use no tool."""
    document = policy(extra_servers={"flaky": {"command": "/bin/sh", "args": ["-c", 'test -f "%s" && exec "%s" sample-server' % (flag, ORCH)]}})
    notes = document["orgs"][ORG]["servers"]["notes"]
    notes["overrides"] = {"tools": {"echo": {"name": "say", "description": "Says the text back."}, "now": {"hidden": True}}}
    document["orgs"][ORG]["toolsets"] = {"basics": {"description": "Echo and add", "tools": ["notes:echo", "notes:add", "paged:echo"]}}
    document["roles"]["reader"] = {"allow": ["notes:prompts/*"]}
    document["orgs"][ORG]["members"]["cat"] = "reader"
    document["users"]["cat"] = {"keys": [{"id": "laptop", "sha256": sha256(EMPTY)}]}
    return document
