"""One era's calls for bench/era-instructions.sh: on one connection, a session opened (handshake era) or
none (2026-07-28, the key's held upstream session opened by the first call), WARM calls, then callgrind's
counters zeroed, CALLS `tools/call echo` counted, and the counts dumped. Exits 1 if any call failed."""
import http.client
import subprocess
import sys

era, port, token, calls, pid = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), sys.argv[5]
WARM = 300
path = "/orgs/bench/servers/echo/mcp"
connection = http.client.HTTPConnection("127.0.0.1", port)
headers = {"Authorization": "Bearer " + token, "Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
envelope = ""
if era == "modern":
    headers.update({"MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/call", "Mcp-Name": "echo"})
    envelope = ',"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}'
else:
    connection.request("POST", path, '{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18",'
                       '"capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}', headers)
    reply = connection.getresponse()
    reply.read()
    headers["Mcp-Session-Id"] = reply.getheader("Mcp-Session-Id")
    connection.request("POST", path, '{"jsonrpc":"2.0","method":"notifications/initialized"}', headers)
    connection.getresponse().read()

failed = 0


def run(count, first):
    global failed
    for i in range(count):
        body = '{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"echo","arguments":{"text":"benchmark"}%s}}' % (first + i, envelope)
        connection.request("POST", path, body, headers)
        reply = connection.getresponse()
        data = reply.read()
        if reply.status != 200 or b'"result"' not in data:
            failed += 1


run(WARM, 1000)
subprocess.run(["callgrind_control", "-z", pid], check=True, capture_output=True)
run(calls, 1000000)
subprocess.run(["callgrind_control", "-d", pid], check=True, capture_output=True)
print("failed", failed)
sys.exit(1 if failed else 0)
