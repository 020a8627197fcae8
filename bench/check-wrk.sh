# Sourced by the bench scripts: a run in which any request failed is no measurement.
#   wrk_failures FILE   how many requests of a wrk run failed: non-2xx responses, socket errors
#                       (connect, read, write, timeout), and the failed calls a script counted
#                       itself (bench/mcp-call.lua: HTTP 202 with no reply, an error reply)
#   require_clean FILE… prints FAILED with the failures of each bad run on stderr and exits 1
wrk_failures() {
  awk '
    /Non-2xx or 3xx responses:/ { n += $NF }
    /Socket errors:/ { gsub(/,/, ""); n += $4 + $6 + $8 + $10 }
    $1 == "failed_calls" { calls = $2 }
    END { print (calls != "" ? (calls > n ? calls : n) : n) + 0 }' "$1"
}

require_clean() {
  local file bad=0
  for file in "$@"; do
    if [ "$(wrk_failures "$file")" -gt 0 ]; then
      echo "FAILED: $(basename "$file" .txt): $(wrk_failures "$file") failed requests; no rate is reported" >&2
      grep -E "Non-2xx|Socket errors|failed_calls" "$file" | sed 's/^/  /' >&2
      bad=1
    fi
  done
  [ $bad = 0 ] || exit 1
}
