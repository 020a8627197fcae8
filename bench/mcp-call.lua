-- wrk script: `tools/call echo` on one MCP session, a distinct JSON-RPC id per request.
-- Environment: MCP_SESSION (the Mcp-Session-Id), MCP_TOKEN (bearer token, may be empty), MCP_TOOL
-- (the tool's name, default echo: `SERVER__echo` on an aggregated endpoint), MCP_MODERN (when set:
-- MCP 2026-07-28, no session, each call with its envelope and routing headers), MCP_ARGUMENTS (the
-- call's arguments as JSON, default {"text":"benchmark"}), MCP_DELAY_MS (when set: each connection pauses
-- that long after each reply, for a load below the machine's capacity).
-- MCP_OPEN (when set, with no MCP_SESSION): the connection opens its own session first (initialize,
-- then notifications/initialized, neither counted as a call), so that the session's stdio pipes live on
-- that connection's event loop, as a 2026-07-28 key's held session does when its first call opens it;
-- for one connection (`-c1`) only.
-- A call counts as failed unless it is answered HTTP 200 with a JSON-RPC result: an HTTP 202 with
-- an empty body (no reply at all), an error reply, a timeout or a socket error are all failures.
-- Prints `p50_us`, `p99_us` and `failed_calls N (…)` lines; bench/check-wrk.sh reads them.
local counter = 0
local threads = {}
local tool = os.getenv("MCP_TOOL") or "echo"
local arguments = os.getenv("MCP_ARGUMENTS") or '{"text":"benchmark"}'
local modern = (os.getenv("MCP_MODERN") or "") ~= ""
local opens = (os.getenv("MCP_OPEN") or "") ~= ""
-- With MCP_OPEN: "initialize", "initialized" (its notification sent), then "calls".
local phase = opens and "initialize" or "calls"
local envelope = modern and
  ',"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}' or ""
-- Per thread (each wrk thread runs this script in its own Lua state).
failed = 0
empty = 0

function setup(thread)
  threads[#threads + 1] = thread
  thread:set("offset", #threads * 100000000)
end

function init(args)
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Accept"] = "application/json, text/event-stream"
  if modern then
    wrk.headers["MCP-Protocol-Version"] = "2026-07-28"
    wrk.headers["Mcp-Method"] = "tools/call"
    wrk.headers["Mcp-Name"] = tool
  else
    if not opens then wrk.headers["Mcp-Session-Id"] = os.getenv("MCP_SESSION") end
  end
  local token = os.getenv("MCP_TOKEN")
  if token and token ~= "" then wrk.headers["Authorization"] = "Bearer " .. token end
end

function request()
  if phase == "initialize" then
    return wrk.format(nil, nil, nil, '{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18",' ..
      '"capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}')
  elseif phase == "initialized" then
    return wrk.format(nil, nil, nil, '{"jsonrpc":"2.0","method":"notifications/initialized"}')
  end
  counter = counter + 1
  local body = '{"jsonrpc":"2.0","id":' .. (offset + counter) ..
    ',"method":"tools/call","params":{"name":"' .. tool .. '","arguments":' .. arguments .. envelope .. '}}'
  return wrk.format(nil, nil, nil, body)
end

function response(status, headers, body)
  if phase == "initialize" then
    wrk.headers["Mcp-Session-Id"] = headers["Mcp-Session-Id"] or headers["mcp-session-id"]
    phase = wrk.headers["Mcp-Session-Id"] and "initialized" or "calls"
    if phase == "calls" then failed = failed + 1 end
    return
  elseif phase == "initialized" then
    phase = "calls"
    if status ~= 202 then failed = failed + 1 end
    return
  end
  if status ~= 200 or not body:find('"result"', 1, true) then
    failed = failed + 1
    if body == "" then empty = empty + 1 end
  end
end

function done(summary, latency, requests)
  local bad, without_body = 0, 0
  for _, thread in ipairs(threads) do
    bad = bad + thread:get("failed")
    without_body = without_body + thread:get("empty")
  end
  local e = summary.errors
  local socket = e.connect + e.read + e.write + e.timeout
  io.write(string.format("p50_us %d\np99_us %d\n", latency:percentile(50), latency:percentile(99)))
  io.write(string.format("failed_calls %d (of %d: %d without a reply body, %d timeouts, %d other socket errors)\n",
    bad + socket, summary.requests, without_body, e.timeout, e.connect + e.read + e.write))
end

local pause = tonumber(os.getenv("MCP_DELAY_MS") or "")
if pause then
  function delay() return pause end
end
