"""End-to-end: the client configs `GET /api/v1/client-config` returns work as written.

Run with the MCP Python SDK 1.x venv:  .venv-mcp1/bin/python tests/e2e/test_client_configs_sdk1.py
(ORCH_BIN picks the `orch` binary; default .build/debug/orch.)

A temp folder holds an orch.json whose servers are `orch sample-server` over stdio, in two orgs so
that one name is ambiguous. The gateway starts on a free port; once the port is known the file
gets a `gateway.publicURL` naming it and the gateway hot-reloads, as a real deployment sets its
public URL. Then the Cline and Claude Code documents are fetched (by default one entry per org, at
its aggregated endpoint; with mode=per-server, one per server), and every entry is connected to
with exactly the document's `url` and `headers` through the SDK's Streamable HTTP client (and,
for `transport=sse`, its SSE client), listing tools.
"""
import datetime
import secrets
import json
import os
import shutil
import sys
import tempfile
import time
import unittest

import anyio
import httpx
from mcp import ClientSession
from mcp.client import streamable_http
from mcp.client.sse import sse_client

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from orchserver import ORCH, OrchServer, sha256  # noqa: E402

WAIT = 30  # seconds: every wait is bounded by this
TOKEN = "orch_" + secrets.token_urlsafe(32)
OTHER = "orch_" + secrets.token_urlsafe(32)
UPSTREAM_SECRET = "upstream-secret-never-in-a-client-config"
SAMPLE_TOOLS = {"add", "delete_note", "echo", "now", "write_note"}

# 1.x renamed `streamablehttp_client` to `streamable_http_client` (which takes an httpx client).
if hasattr(streamable_http, "streamable_http_client"):
    def open_streamable_http(url, headers):
        http = httpx.AsyncClient(headers=headers, timeout=httpx.Timeout(WAIT, read=WAIT * 10))
        return streamable_http.streamable_http_client(url, http_client=http), http
else:  # older 1.x
    def open_streamable_http(url, headers):
        return streamable_http.streamablehttp_client(url, headers=headers, timeout=WAIT), None


def sample_server():
    return {"command": os.path.abspath(ORCH), "args": ["sample-server"],
            "env": {"SAMPLE_TOKEN": UPSTREAM_SECRET}}


def policy(public_url=None):
    document = {
        "version": 1,
        "gateway": {"audit": "gateway.audit", "limits": {"callTimeoutSeconds": WAIT}},
        "roles": {
            "user": {"allow": ["notes:echo", "notes:add", "clock"]},
            "admin": {"allow": ["*"]},
        },
        "orgs": {
            "acme": {
                "members": {"bob": "user", "ada": "admin"},
                "servers": {"notes": sample_server(), "clock": sample_server(), "vault": sample_server()},
            },
            "globex": {"members": {"bob": "user"}, "servers": {"notes": sample_server()}},
        },
        "users": {
            "bob": {"keys": [{"id": "laptop", "sha256": sha256(TOKEN)}]},
            "ada": {"keys": [{"id": "laptop", "sha256": sha256(OTHER)}]},
        },
    }
    if public_url:
        document["gateway"]["publicURL"] = public_url
    return document


class ClientConfigsSDK1(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.folder = tempfile.mkdtemp(prefix="orch-e2e-client-config-")
        cls.path = os.path.join(cls.folder, "orch.json")
        cls.write(policy())
        cls.gateway = OrchServer(cls.path)
        try:
            cls.write(policy(cls.gateway.base))
            reloaded = cls.gateway.wait_until(lambda: cls.fetch("cline")[1].get("mcpServers", {}).get("acme", {})
                                              .get("url", "").startswith(cls.gateway.base), timeout=WAIT)
            if not reloaded:
                raise AssertionError("the gateway did not pick up publicURL; log:\n" + "\n".join(cls.gateway.log))
        except BaseException:
            cls.gateway.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.gateway.stop()
        shutil.rmtree(cls.folder, ignore_errors=True)

    @classmethod
    def write(cls, document):
        # Write a new file and rename it over the old one, as editors do.
        temp = cls.path + ".tmp"
        with open(temp, "w") as f:
            json.dump(document, f, indent=2)
        os.replace(temp, cls.path)

    @classmethod
    def fetch(cls, client, transport=None, token=TOKEN, mode=None):
        query = "client=" + client + ("&transport=" + transport if transport else "") + ("&mode=" + mode if mode else "")
        status, _, body = cls.gateway.request("/api/v1/client-config?" + query, token=token)
        return status, body if isinstance(body, dict) else {}

    def document(self, client, transport=None, mode=None):
        status, body = self.fetch(client, transport, mode=mode)
        self.assertEqual(status, 200, body)
        self.assertNotIn(UPSTREAM_SECRET, json.dumps(body))
        self.assertNotIn("sample-server", json.dumps(body))
        return body

    async def list_tools_streamable_http(self, url, headers):
        context, http = open_streamable_http(url, headers)
        try:
            async with context as (read, write, _):
                async with ClientSession(read, write, read_timeout_seconds=datetime.timedelta(seconds=WAIT)) as session:
                    await session.initialize()
                    return {tool.name for tool in (await session.list_tools()).tools}
        finally:
            if http is not None:
                await http.aclose()

    async def list_tools_sse(self, url, headers):
        async with sse_client(url, headers=headers, timeout=WAIT, sse_read_timeout=WAIT * 10) as (read, write):
            async with ClientSession(read, write, read_timeout_seconds=datetime.timedelta(seconds=WAIT)) as session:
                await session.initialize()
                return {tool.name for tool in (await session.list_tools()).tools}

    PER_ORG = {"acme": {"notes__echo", "notes__add"} | {"clock__" + t for t in SAMPLE_TOOLS},
               "globex": {"notes__echo", "notes__add"}}
    PER_SERVER = {"acme-notes": {"echo", "add"}, "clock": SAMPLE_TOOLS, "globex-notes": {"echo", "add"}}

    def check_entries(self, servers, type_name, transport="streamable-http", expected=PER_ORG):
        """Every entry lists the tools bob may call, through exactly its url and headers."""
        self.assertEqual(list(servers), list(expected))
        suffix = "/sse" if transport == "sse" else "/mcp"
        for name, entry in servers.items():
            with self.subTest(entry=name):
                self.assertEqual(entry["type"], type_name)
                self.assertTrue(entry["url"].startswith(self.gateway.base + "/orgs/"), entry["url"])
                self.assertTrue(entry["url"].endswith(suffix), entry["url"])
                self.assertEqual(entry["headers"], {"Authorization": "Bearer " + TOKEN})
                opener = self.list_tools_sse if transport == "sse" else self.list_tools_streamable_http
                tools = anyio.run(opener, entry["url"], entry["headers"])
                self.assertEqual(tools, expected[name])

    def test_cline_document_connects_and_lists_tools(self):
        servers = self.document("cline")["mcpServers"]
        for entry in servers.values():
            self.assertEqual((entry["disabled"], entry["timeout"], entry["autoApprove"]), (False, 60, []))
        self.check_entries(servers, "streamableHttp")

    def test_claude_code_document_connects_and_lists_tools(self):
        self.check_entries(self.document("claude-code")["mcpServers"], "http")

    def test_cline_sse_document_connects_through_the_legacy_endpoint(self):
        self.check_entries(self.document("cline", "sse")["mcpServers"], "sse", transport="sse")

    def test_per_server_documents_connect_to_each_servers_own_endpoint(self):
        self.check_entries(self.document("cline", mode="per-server")["mcpServers"], "streamableHttp", expected=self.PER_SERVER)
        self.check_entries(self.document("claude-code", "sse", mode="per-server")["mcpServers"], "sse", transport="sse",
                           expected=self.PER_SERVER)

    def test_unknown_client_is_a_400_listing_the_valid_ones(self):
        status, _, body = self.gateway.request("/api/v1/client-config?client=emacs", token=TOKEN)
        self.assertEqual(status, 400)
        self.assertEqual(body["error"]["code"], "bad_request")
        self.assertIn("cline, claude-code, cursor, vscode, windsurf, claude-desktop", body["error"]["message"])

    def test_every_client_document_is_served(self):
        for client in ["cline", "claude-code", "cursor", "vscode", "windsurf", "claude-desktop"]:
            with self.subTest(client=client):
                document = self.document(client)
                status, headers, _ = self.gateway.request("/api/v1/client-config?client=" + client, token=TOKEN)
                self.assertEqual((status, headers.get("Cache-Control")), (200, "no-store"),
                                 "a document that may carry the token must not be cached")
                if client != "vscode":
                    self.assertIn(TOKEN, json.dumps(document))
                    continue
                # VS Code prompts for the token (kept in its secret storage): the file never holds
                # it, not even as the prompt's default.
                self.assertNotIn(TOKEN, json.dumps(document))
                self.assertEqual([(i["type"], i["id"], i.get("password"), "default" in i) for i in document["inputs"]],
                                 [("promptString", "orch-token", True, False)], document)
                self.assertEqual({name: entry["headers"] for name, entry in document["servers"].items()},
                                 {name: {"Authorization": "Bearer ${input:orch-token}"} for name in document["servers"]})


if __name__ == "__main__":
    unittest.main(verbosity=2)
