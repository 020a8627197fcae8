"""An MCP server written with the official Python SDK 2.3's `MCPServer`: it speaks 2026-07-28 to
a client that sends the per-request envelope and the handshake era to one that initializes (the
SDK decides per connection, or per request over HTTP).

  echo(text)      returns the text.
  greet()         asks the client for a name (elicitation: `input_required` in 2026-07-28, an
                  `elicitation/create` request in the handshake era) and returns "hello NAME".
  where(region)   returns "in REGION"; `region` is mirrored in the `Mcp-Param-Region` header of a
                  2026-07-28 call, which the SDK's server checks.
  touch(uri)      publishes an update of resource `uri` to the `subscriptions/listen` streams that
                  name it, and returns "touched URI".
  note://a        a resource (so the server offers resources and, in 2026-07-28, subscriptions).

Run by the SDK 2.x venv:  .venv-mcp2/bin/python modern_upstream.py          (stdio)
                          .venv-mcp2/bin/python modern_upstream.py http     (Streamable HTTP)

Over HTTP it listens on a free loopback port at /mcp, prints `modern upstream listening on
127.0.0.1:PORT`, and appends each request's method, headers and JSON-RPC method to
$UPSTREAM_RECORD (JSON lines) when that is set.
"""
import asyncio
import json
import os
import sys
from typing import Annotated

from pydantic import BaseModel, Field

from mcp.server.mcpserver import Context, Elicit, MCPServer, Resolve


class Name(BaseModel):
    name: str


def ask_name() -> Elicit[Name]:
    return Elicit("What is your name?", Name)


server = MCPServer("modern-upstream")


@server.tool()
def echo(text: str) -> str:
    """Return the text."""
    return text


@server.tool()
def greet(who: Annotated[Name, Resolve(ask_name)]) -> str:
    """Greet whoever the client says it is."""
    return "hello " + who.name


@server.tool()
def where(region: Annotated[str, Field(json_schema_extra={"x-mcp-header": "Region"})]) -> str:
    """Say where."""
    return "in " + region


@server.tool()
async def touch(uri: str, ctx: Context) -> str:
    """Tell the listen streams that name it that a resource changed."""
    await ctx.notify_resource_updated(uri)
    return "touched " + uri


@server.resource("note://a")
def note_a() -> str:
    """A note."""
    return "a"


class Recorder:
    """ASGI wrapper: one JSON line per HTTP request (method, headers, JSON-RPC method)."""

    def __init__(self, app, path):
        self.app, self.path = app, path

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        try:
            rpc = json.loads(body).get("method") if body else None
        except (ValueError, AttributeError):
            rpc = None
        with open(self.path, "a") as f:
            f.write(json.dumps({"method": scope["method"], "rpc": rpc,
                                "headers": [[k.decode("latin-1"), v.decode("latin-1")] for k, v in scope["headers"]]}) + "\n")
        replayed = False

        async def replay():
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


async def serve_http():
    import uvicorn

    app = server.streamable_http_app()
    if os.environ.get("UPSTREAM_RECORD"):
        app = Recorder(app, os.environ["UPSTREAM_RECORD"])
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
    http = uvicorn.Server(config)
    serving = asyncio.create_task(http.serve())
    while not http.started:
        if serving.done():
            await serving
            return
        await asyncio.sleep(0.02)
    print("modern upstream listening on 127.0.0.1:%d" % http.servers[0].sockets[0].getsockname()[1], flush=True)
    await serving


if __name__ == "__main__":
    if sys.argv[1:] == ["http"]:
        asyncio.run(serve_http())
    else:
        server.run("stdio")
