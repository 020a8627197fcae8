"""How the official MCP Python SDK 2.3's own server answers 2026-07-28 requests, case by case.

Regenerate the fixture the Swift tests read (Tests/OrchGatewayTests/Fixtures/modern-requests.json)
after changing a case here or moving to another SDK release:

    /work/main/.venv-mcp2/bin/python tests/e2e/modern_conformance.py          # or any venv with mcp 2.x
    /work/main/.venv-mcp2/bin/python tests/e2e/modern_conformance.py --check  # exit 1 if it is stale

The SDK's server (`mcp.server.lowlevel.Server`, one tool whose schema declares `Mcp-Param-*`
headers, streamable HTTP in JSON mode) runs in this process behind httpx's ASGI transport: no
socket, nothing installed or written but the fixture. Each case is a raw HTTP request; the fixture
records it and what the SDK answered (which era's entry took it, the HTTP status, the JSON-RPC
error's code, message and data). `ModernConformanceTests` feeds the same requests to the gateway's
`ModernReading` and expects the same era, status and code (and message and data for the modern
entry's refusals). A case where the gateway deliberately answers otherwise carries `orch`: what it
answers instead and why.
"""
import importlib.metadata
import json
import os
import sys

import anyio
import httpx2
import mcp.server.streamable_http_manager as manager
import mcp_types as types
from mcp.server.lowlevel.server import Server

FIXTURE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                       "Tests", "OrchGatewayTests", "Fixtures", "modern-requests.json")
MODERN = "2026-07-28"
LEGACY = "2025-11-25"

SCHEMA = {
    "type": "object",
    "properties": {
        "region": {"type": "string", "x-mcp-header": "Region"},
        "count": {"type": "integer", "x-mcp-header": "Count"},
        "verbose": {"type": "boolean", "x-mcp-header": "Verbose"},
        "options": {"type": "object", "properties": {"mode": {"type": "string", "x-mcp-header": "Mode"}}},
        "note": {"type": "string"},
    },
}
# A schema a conforming client drops (x-mcp-header on a number): nothing is checked against it.
INVALID_SCHEMA = {"type": "object", "properties": {"ratio": {"type": "number", "x-mcp-header": "Ratio"}}}
TOOL_SCHEMAS = {"echo": SCHEMA, "loose": INVALID_SCHEMA}


async def list_tools(ctx, params):
    return types.ListToolsResult(tools=[types.Tool(name=n, input_schema=s) for n, s in TOOL_SCHEMAS.items()])


async def call_tool(ctx, params):
    return types.CallToolResult(content=[types.TextContent(type="text", text="ok")])


async def get_prompt(ctx, params):
    return types.GetPromptResult(messages=[])


async def read_resource(ctx, params):
    return types.ReadResourceResult(contents=[types.TextResourceContents(uri=params.uri, text="x")])


def envelope(version=MODERN, **extra):
    meta = {"io.modelcontextprotocol/protocolVersion": version, "io.modelcontextprotocol/clientCapabilities": {}}
    meta.update(extra)
    return meta


def request(method, params=None, meta=None, id=1):
    params = dict(params or {})
    if meta is not False:
        params["_meta"] = envelope() if meta is None else meta
    return {"jsonrpc": "2.0", "id": id, "method": method, "params": params}


def headers(method, version=MODERN, name=None, *extra):
    """The headers a conforming client sends, then EXTRA (name, value) pairs appended as they are."""
    pairs = [("accept", "application/json, text/event-stream"), ("content-type", "application/json")]
    if version is not None:
        pairs.append(("mcp-protocol-version", version))
    if method is not None:
        pairs.append(("mcp-method", method))
    if name is not None:
        pairs.append(("mcp-name", name))
    return pairs + list(extra)


def call(arguments, *params, name="echo", header=None):
    """A tools/call of NAME with ARGUMENTS, its Mcp-Name header HEADER (default: NAME), then PARAMS headers."""
    pairs = headers("tools/call", MODERN, name if header is None else header, *params)
    return pairs, request("tools/call", {"name": name, "arguments": arguments})


ECHO = {"region": "eu", "count": 3}
ECHO_HEADERS = (("Mcp-Param-Region", "eu"), ("Mcp-Param-Count", "3"))
WITHOUT_HEADER = [p for p in headers("tools/list") if p[0] != "mcp-protocol-version"]

# (name, HTTP method, header pairs, body, what the gateway answers instead and why, or None)
CASES = [
    # Requests that pass every check.
    ("discover", "POST", headers("server/discover"), request("server/discover"), None),
    ("tools/list", "POST", headers("tools/list"), request("tools/list"), None),
    ("client info is optional but kept", "POST", headers("tools/list"),
     request("tools/list", meta=envelope(**{"io.modelcontextprotocol/clientInfo": {"name": "c", "version": "1"}})), None),
    ("tools/call with matching name and parameter headers", "POST", *call(ECHO, *ECHO_HEADERS), None),
    ("tools/call with a base64 name and parameter", "POST",
     *call({"region": "é u"}, ("Mcp-Param-Region", "=?base64?w6kgdQ==?="), header="=?base64?ZWNobw==?="), None),
    ("tools/call integer header 3.0 for 3", "POST", *call({"count": 3}, ("Mcp-Param-Count", "3.0")), None),
    ("tools/call boolean header", "POST", *call({"verbose": True}, ("Mcp-Param-Verbose", "true")), None),
    ("tools/call nested parameter", "POST", *call({"options": {"mode": "fast"}}, ("Mcp-Param-Mode", "fast")), None),
    ("tools/call undeclared parameter header is not read", "POST",
     *call({"note": "a"}, ("Mcp-Param-Note", "b"), ("Mcp-Param-Other", "c")), None),
    ("tools/call null argument and no header", "POST", *call({"region": None}), None),
    ("tools/call tool with invalid annotations is not checked", "POST",
     *call({"ratio": 0.5}, ("Mcp-Param-Ratio", "2"), name="loose"), None),
    ("tools/call unknown tool is not checked", "POST", *call({"region": "eu"}, name="missing"), None),
    ("prompts/get with matching name", "POST", headers("prompts/get", MODERN, "p"), request("prompts/get", {"name": "p"}), None),
    ("resources/read with matching uri", "POST", headers("resources/read", MODERN, "mem://a/b"),
     request("resources/read", {"uri": "mem://a/b"}), None),
    ("a method the gateway does not know is read like any other", "POST", headers("tasks/list"), request("tasks/list"),
     {"era": "modern", "status": 200, "code": None,
      "reason": "the gateway forwards methods it does not know to the server, which answers them; "
                "the SDK's server has no handler for it (-32601)"}),

    # Envelope.
    ("no _meta", "POST", headers("tools/list"), request("tools/list", meta=False), None),
    ("_meta not an object", "POST", headers("tools/list"), request("tools/list", meta=[1]), None),
    ("_meta without client capabilities", "POST", headers("tools/list"),
     request("tools/list", meta={"io.modelcontextprotocol/protocolVersion": MODERN}), None),
    ("_meta without protocol version", "POST", headers("tools/list"),
     request("tools/list", meta={"io.modelcontextprotocol/clientCapabilities": {}}), None),
    ("_meta without either key", "POST", headers("tools/list"), request("tools/list", meta={}), None),
    ("ping without _meta is an envelope error first", "POST", headers("ping"), request("ping", meta=False), None),
    ("params not an object", "POST", headers("tools/list"), {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": [1]},
     {"era": "modern", "status": 400, "code": -32602,
      "reason": "the gateway reads params that are not an object as none, so the envelope is missing (-32602) "
                "where the SDK refuses the request's shape (-32600); either way 400"}),

    # Headers against the body.
    ("protocol version header differs from the envelope", "POST", headers("tools/list"),
     request("tools/list", meta=envelope("2027-01-01")), None),
    ("envelope version not a string", "POST", headers("tools/list"), request("tools/list", meta=envelope(20260728)), None),
    ("method header differs", "POST", headers("tools/call"), request("tools/list"), None),
    ("method header missing", "POST", headers(None), request("tools/list"), None),
    ("tools/call name header differs", "POST", *call({}, header="other"), None),
    ("tools/call name header missing", "POST", headers("tools/call"), request("tools/call", {"name": "echo"}), None),
    ("tools/call name header with malformed base64", "POST", *call({}, header="=?base64?ZWNobw?="), None),
    ("prompts/get name header differs", "POST", headers("prompts/get", MODERN, "q"), request("prompts/get", {"name": "p"}), None),
    ("resources/read name header differs", "POST", headers("resources/read", MODERN, "mem://a/c"),
     request("resources/read", {"uri": "mem://a/b"}), None),
    ("duplicated method header", "POST", headers("tools/list", MODERN, None, ("mcp-method", "tools/list")),
     request("tools/list"), None),
    ("duplicated protocol version header", "POST", headers("tools/list", MODERN, None, ("MCP-Protocol-Version", MODERN)),
     request("tools/list"), None),
    ("duplicated name header", "POST", headers("tools/call", MODERN, "echo", ("Mcp-Name", "echo")),
     request("tools/call", {"name": "echo", "arguments": {}}), None),
    ("parameter header differs", "POST", *call(ECHO, ("Mcp-Param-Region", "us"), ("Mcp-Param-Count", "3")), None),
    ("parameter header missing for a present argument", "POST", *call(ECHO, ("Mcp-Param-Region", "eu")), None),
    ("parameter header for an absent argument", "POST", *call({"region": "eu"}, *ECHO_HEADERS), None),
    ("parameter header for a null argument", "POST", *call({"region": None}, ("Mcp-Param-Region", "eu")), None),
    ("parameter header for an object argument", "POST", *call({"region": {"a": 1}}, ("Mcp-Param-Region", "x")), None),
    ("parameter header malformed base64", "POST", *call({"region": "eu"}, ("Mcp-Param-Region", "=?base64?!!?=")), None),
    ("parameter header non-canonical base64", "POST", *call({"region": "a"}, ("Mcp-Param-Region", "=?base64?YR==?=")), None),
    ("parameter header duplicated", "POST", *call(ECHO, *ECHO_HEADERS, ("Mcp-Param-Region", "eu")), None),
    ("integer header 3.5 for 3", "POST", *call({"count": 3}, ("Mcp-Param-Count", "3.5")), None),
    ("integer header in exponent form", "POST", *call({"count": 3}, ("Mcp-Param-Count", "3e0")), None),
    ("boolean header in another case", "POST", *call({"verbose": True}, ("Mcp-Param-Verbose", "True")), None),
    ("parameter header name in any case", "POST", *call({"region": "eu"}, ("MCP-PARAM-REGION", "eu")), None),

    # Versions.
    ("unsupported version", "POST", headers("tools/list", "2027-01-01"), request("tools/list", meta=envelope("2027-01-01")), None),
    ("unknown version text", "POST", headers("tools/list", "draft"), request("tools/list", meta=envelope("draft")), None),

    # Methods the era removed.
    ("ping", "POST", headers("ping"), request("ping"), None),
    ("logging/setLevel", "POST", headers("logging/setLevel"), request("logging/setLevel", {"level": "info"}), None),
    ("resources/subscribe", "POST", headers("resources/subscribe"), request("resources/subscribe", {"uri": "mem://a"}), None),
    ("resources/unsubscribe", "POST", headers("resources/unsubscribe"), request("resources/unsubscribe", {"uri": "mem://a"}), None),
    ("initialize sent as modern", "POST", headers("initialize"),
     request("initialize", {"protocolVersion": MODERN, "capabilities": {}, "clientInfo": {"name": "c", "version": "1"}}), None),

    # Notifications, responses, other HTTP methods.
    ("notification", "POST", headers("notifications/initialized"), {"jsonrpc": "2.0", "method": "notifications/initialized"}, None),
    ("notification with duplicated headers", "POST",
     headers("notifications/cancelled", MODERN, None, ("mcp-method", "x")), {"jsonrpc": "2.0", "method": "notifications/cancelled"}, None),
    ("notification at an unsupported version", "POST", headers("notifications/initialized", "2027-01-01"),
     {"jsonrpc": "2.0", "method": "notifications/initialized"}, None),
    ("posted response", "POST", headers(None), {"jsonrpc": "2.0", "id": 1, "result": {}}, None),
    ("GET", "GET", headers(None), None, None),
    ("DELETE", "DELETE", headers(None), None, None),

    # Which era takes the request.
    ("legacy initialize", "POST", headers(None, None),
     {"jsonrpc": "2.0", "id": 1, "method": "initialize",
      "params": {"protocolVersion": LEGACY, "capabilities": {}, "clientInfo": {"name": "c", "version": "1"}}}, None),
    ("legacy version header", "POST", headers("tools/list", LEGACY), request("tools/list", meta=False), None),
    ("initialize with a modern envelope but no header", "POST", headers(None, None),
     {"jsonrpc": "2.0", "id": 1, "method": "initialize",
      "params": {"protocolVersion": LEGACY, "capabilities": {}, "clientInfo": {"name": "c", "version": "1"}, "_meta": envelope()}},
     None),
    ("modern header on a session", "POST", headers("tools/list", MODERN, None, ("mcp-session-id", "abc")), request("tools/list"),
     {"era": "legacy", "status": None, "code": None,
      "reason": "a request on a session is legacy whatever its version header (the session path answers it); "
                "the SDK routes on the version header alone"}),
    ("modern envelope without the version header", "POST", WITHOUT_HEADER, request("tools/list"),
     {"era": "modern", "status": 400, "code": -32020,
      "reason": "the envelope alone makes a request modern, and a modern request must carry its version header; "
                "the SDK routes on the header alone and takes this for a legacy request"}),
    ("legacy version header with a modern envelope", "POST", headers("tools/list", LEGACY), request("tools/list"),
     {"era": "modern", "status": 400, "code": -32020,
      "reason": "the envelope makes the request modern and its header then disagrees with it; "
                "the SDK routes on the header alone and takes this for a legacy request"}),
]


def answer_of(response):
    try:
        error = response.json().get("error")
    except ValueError:
        error = None
    return {
        "status": response.status_code,
        "id": response.json().get("id") if error else None,
        "code": error["code"] if error else None,
        "message": error.get("message") if error else None,
        "data": error.get("data") if error else None,
    }


async def observe():
    taken = []
    modern_entry = manager.handle_modern_request

    async def recording(*args, **kwargs):
        taken.append("modern")
        return await modern_entry(*args, **kwargs)

    manager.handle_modern_request = recording
    server = Server("conformance", version="1.0", on_list_tools=list_tools, on_call_tool=call_tool,
                    on_get_prompt=get_prompt, on_read_resource=read_resource,
                    get_tool_input_schema=TOOL_SCHEMAS.get)
    app = server.streamable_http_app(json_response=True)
    cases = []
    async with server.session_manager.run():
        transport = httpx2.ASGITransport(app=app)
        async with httpx2.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as client:
            for name, method, pairs, body, orch in CASES:
                taken.clear()
                content = None if body is None else json.dumps(body, ensure_ascii=False).encode()
                response = await client.request(method, "/mcp", headers=pairs, content=content)
                case = {"name": name, "httpMethod": method, "headers": [list(p) for p in pairs], "body": body,
                        "sdk": {"era": "modern" if taken else "legacy", **answer_of(response)}}
                if orch is not None:
                    case["orch"] = orch
                cases.append(case)
    return cases


def main():
    document = {
        "generatedBy": "tests/e2e/modern_conformance.py",
        "sdk": "mcp " + importlib.metadata.version("mcp"),
        "toolSchemas": TOOL_SCHEMAS,
        "cases": anyio.run(observe),
    }
    text = json.dumps(document, indent=1, ensure_ascii=False) + "\n"
    if "--check" in sys.argv:
        with open(FIXTURE, encoding="utf-8") as file:
            current = file.read()
        if current != text:
            print("stale: " + FIXTURE + " (regenerate it)", file=sys.stderr)
            sys.exit(1)
        print("up to date: %d cases" % len(document["cases"]))
        return
    os.makedirs(os.path.dirname(FIXTURE), exist_ok=True)
    with open(FIXTURE, "w", encoding="utf-8") as file:
        file.write(text)
    print("wrote %d cases to %s" % (len(document["cases"]), os.path.relpath(FIXTURE)))


if __name__ == "__main__":
    main()
