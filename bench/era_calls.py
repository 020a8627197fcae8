"""What bench/era_instructions.py and bench/era_pairs.py share: a `tools/call echo` in either era over
http.client, the session of the handshake era opened as a client opens it."""

PATH = "/orgs/bench/servers/echo/mcp"
# The routing headers and the envelope every 2026-07-28 call carries.
MODERN_HEADERS = {"MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/call", "Mcp-Name": "echo"}
ENVELOPE = ',"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}'


def headers(token):
    return {"Authorization": "Bearer " + token, "Content-Type": "application/json", "Accept": "application/json, text/event-stream"}


def open_session(connection, headers):
    """initialize, then notifications/initialized, on `connection`: `headers` gain the Mcp-Session-Id."""
    connection.request("POST", PATH, '{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18",'
                       '"capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}', headers)
    reply = connection.getresponse()
    reply.read()
    headers["Mcp-Session-Id"] = reply.getheader("Mcp-Session-Id")
    connection.request("POST", PATH, '{"jsonrpc":"2.0","method":"notifications/initialized"}', headers)
    connection.getresponse().read()


def body(number, envelope=""):
    """A `tools/call echo` with id `number` (with the envelope for 2026-07-28)."""
    return '{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"echo","arguments":{"text":"benchmark"}%s}}' % (number, envelope)
