"""A stdio MCP server for the gateway's interactive test (test_interactive_sdk1.py): FastMCP (mcp 1.x)
whose tools call back into the client mid-call.

  ask_model(prompt)   sampling: sends sampling/createMessage with the prompt and returns
                      "model said: <the client's reply text>"
  ask_user(question)  elicitation: sends elicitation/create with the question and a form of
                      {name: str, confirmed: bool}; returns "accepted: name=<name> confirmed=<bool>",
                      or "declined" / "cancelled"
  count(n)            progress: reports progress i of n for i in 1..n, then returns "counted <n>"

The gateway launches it as `{"command": <1.x venv python>, "args": [<this file>]}`.
"""
import anyio
from mcp.server.fastmcp import Context, FastMCP
from mcp.types import SamplingMessage, TextContent
from pydantic import BaseModel, Field

mcp = FastMCP("e2e-interactive")


class Answer(BaseModel):
    name: str = Field(description="Your name")
    confirmed: bool = Field(description="Whether you confirm")


@mcp.tool()
async def ask_model(prompt: str, ctx: Context) -> str:
    """Ask the client's model (sampling) and return its reply."""
    result = await ctx.session.create_message(
        messages=[SamplingMessage(role="user", content=TextContent(type="text", text=prompt))],
        max_tokens=64,
        related_request_id=ctx.request_id,
    )
    content = result.content
    text = content.text if isinstance(content, TextContent) else repr(content)
    return "model said: " + text


@mcp.tool()
async def ask_user(question: str, ctx: Context) -> str:
    """Ask the user (elicitation) and return what they answered."""
    result = await ctx.elicit(message=question, schema=Answer)
    if result.action == "accept":
        return "accepted: name=%s confirmed=%s" % (result.data.name, result.data.confirmed)
    return {"decline": "declined", "cancel": "cancelled"}.get(result.action, result.action)


@mcp.tool()
async def count(n: int, ctx: Context) -> str:
    """Report progress 1..n of n, then return "counted n"."""
    for i in range(1, n + 1):
        await ctx.report_progress(i, n)
        await anyio.sleep(0.02)
    return "counted %d" % n


if __name__ == "__main__":
    mcp.run()
