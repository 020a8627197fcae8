-- wrk script: `tools/call echo` on one MCP session, a distinct JSON-RPC id per request.
-- Environment: MCP_SESSION (the Mcp-Session-Id), MCP_TOKEN (bearer token, may be empty), MCP_TOOL
-- (the tool's name, default echo: `SERVER__echo` on an aggregated endpoint).
local counter = 0
local threads = 0
local tool = os.getenv("MCP_TOOL") or "echo"

function setup(thread)
  threads = threads + 1
  thread:set("offset", threads * 100000000)
end

function init(args)
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Accept"] = "application/json, text/event-stream"
  wrk.headers["Mcp-Session-Id"] = os.getenv("MCP_SESSION")
  local token = os.getenv("MCP_TOKEN")
  if token and token ~= "" then wrk.headers["Authorization"] = "Bearer " .. token end
end

function request()
  counter = counter + 1
  local body = '{"jsonrpc":"2.0","id":' .. (offset + counter) ..
    ',"method":"tools/call","params":{"name":"' .. tool .. '","arguments":{"text":"benchmark"}}}'
  return wrk.format(nil, nil, nil, body)
end

function done(summary, latency, requests)
  io.write(string.format("p50_us %d\np99_us %d\n", latency:percentile(50), latency:percentile(99)))
end
