"""A stdio MCP server written with the official Python SDK 2.3's `MCPServer`: it speaks
2026-07-28 to a client that opens with the per-request envelope and the handshake era to one that
initializes (the SDK decides per connection).

  echo(text)  returns the text.
  greet()     asks the client for a name (elicitation: `input_required` in 2026-07-28, an
              `elicitation/create` request in the handshake era) and returns "hello NAME".

Run by the SDK 2.x venv:  .venv-mcp2/bin/python modern_upstream.py
"""
from typing import Annotated

from pydantic import BaseModel

from mcp.server.mcpserver import Elicit, MCPServer, Resolve


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


if __name__ == "__main__":
    server.run("stdio")
