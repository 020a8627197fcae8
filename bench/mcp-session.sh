# Sourced by the bench scripts that open MCP sessions with curl.
#   open_session URL   initialize, then notifications/initialized, as $token; prints the session id
open_session() {
  local sid
  sid=$(curl -s -D - -o /dev/null -X POST "$1" -H "Authorization: Bearer $token" \
    -H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream' \
    -d '{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}' \
    | tr -d '\r' | awk 'tolower($1) == "mcp-session-id:" {print $2}')
  curl -s -o /dev/null -X POST "$1" -H "Authorization: Bearer $token" -H "Mcp-Session-Id: $sid" \
    -H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream' \
    -d '{"jsonrpc":"2.0","method":"notifications/initialized"}'
  echo "$sid"
}

