"""An MCP server on stdio whose replies the test writes byte for byte, stdlib only, for
test_json_passthrough.py.

    python3 json_upstream.py

tools/call of `reply` answers with `arguments.raw` as the result's JSON text, exactly as given;
tools/call of `reflect` answers with the request's line as it arrived, as the text of its content;
tools/list lists both, `reply`'s schema with integers past 64 bits.
"""
import json
import sys

TOOLS_LIST = ('{"tools":[{"name":"reply","description":"answers with arguments.raw",'
              '"inputSchema":{"type":"object","properties":{"raw":{"type":"string"},'
              '"n":{"type":"integer","minimum":-99999999999999999999,"maximum":18446744073709551615}}}},'
              '{"name":"reflect","description":"answers with the request as it came",'
              '"inputSchema":{"type":"object"}}]}')


def write(request_id, result_text):
    line = '{"jsonrpc":"2.0","id":%s,"result":%s}\n' % (json.dumps(request_id), result_text)
    sys.stdout.buffer.write(line.encode())
    sys.stdout.buffer.flush()


def main():
    for raw in sys.stdin.buffer:
        line = raw.rstrip(b"\n")
        try:
            message = json.loads(line)
        except ValueError:
            continue
        if not isinstance(message, dict) or "id" not in message or "method" not in message:
            continue
        method, request_id, params = message["method"], message["id"], message.get("params") or {}
        if method == "initialize":
            write(request_id, json.dumps({"protocolVersion": params.get("protocolVersion", "2025-06-18"),
                                          "capabilities": {"tools": {}},
                                          "serverInfo": {"name": "json-upstream", "version": "1"}}))
        elif method == "tools/list":
            write(request_id, TOOLS_LIST)
        elif method == "tools/call" and params.get("name") == "reply":
            write(request_id, params["arguments"]["raw"])
        elif method == "tools/call":
            write(request_id, json.dumps({"content": [{"type": "text", "text": line.decode()}], "isError": False}))
        else:
            write(request_id, "{}")


if __name__ == "__main__":
    main()
