"""A remote MCP server for the gateway's remote-upstream test: FastMCP (mcp 1.x) over Streamable
HTTP on a free loopback port, at /mcp, behind an ASGI wrapper that refuses (401) any request
without `X-Upstream-Key: $UPSTREAM_EXPECTED_KEY`.

Every HTTP request's method, path and headers, and every tool run, are appended as JSON lines to
$UPSTREAM_RECORD, so the test can check what the gateway sent (its configured header, never the
caller's token). Prints `remote upstream listening on 127.0.0.1:PORT` once it accepts connections.
"""
import asyncio
import json
import os
import threading

import uvicorn
from mcp.server.fastmcp import FastMCP

EXPECTED_KEY = os.environ["UPSTREAM_EXPECTED_KEY"]
RECORD = os.environ["UPSTREAM_RECORD"]
_lock = threading.Lock()


def record(entry):
    with _lock, open(RECORD, "a") as f:
        f.write(json.dumps(entry) + "\n")


mcp = FastMCP("e2e-remote")


@mcp.tool()
def shout(text: str) -> str:
    """Upper-case the text and add an exclamation mark."""
    record({"kind": "tool", "name": "shout", "arguments": {"text": text}})
    return text.upper() + "!"


@mcp.tool()
def secret_admin() -> str:
    """Something only admins should ever run."""
    record({"kind": "tool", "name": "secret_admin", "arguments": {}})
    return "the admin secret is 42"


class RequireUpstreamKey:
    """ASGI wrapper: record every HTTP request; refuse one without the right X-Upstream-Key."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            headers = [[k.decode("latin-1"), v.decode("latin-1")] for k, v in scope["headers"]]
            got = [v for k, v in headers if k.lower() == "x-upstream-key"]
            ok = got == [EXPECTED_KEY]
            record({"kind": "request", "method": scope["method"], "path": scope["path"],
                    "query": scope.get("query_string", b"").decode("latin-1"), "headers": headers, "accepted": ok})
            if not ok:
                body = json.dumps({"error": "missing or wrong X-Upstream-Key"}).encode()
                await send({"type": "http.response.start", "status": 401,
                            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)


async def main():
    app = RequireUpstreamKey(mcp.streamable_http_app())
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    while not server.started:
        if serving.done():
            await serving  # raises what stopped it
            return
        await asyncio.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    print("remote upstream listening on 127.0.0.1:%d" % port, flush=True)
    await serving


if __name__ == "__main__":
    asyncio.run(main())
