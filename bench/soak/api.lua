-- wrk script for `make soak` (bench/soak/soak.py): authenticated GETs of /api/v1/me and
-- /api/v1/servers, alternating. Environment: SOAK_TOKEN (a valid bearer token).
-- Prints one summary line that soak.py parses.
local paths = { "/api/v1/me", "/api/v1/servers" }
local counter = 0

function init(args)
  wrk.headers["Authorization"] = "Bearer " .. os.getenv("SOAK_TOKEN")
end

function request()
  counter = counter + 1
  return wrk.format("GET", paths[(counter % 2) + 1])
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "soak_wrk requests=%d non2xx=%d connect=%d read=%d write=%d timeout=%d p50_us=%d p99_us=%d max_us=%d\n",
    summary.requests, e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(99), latency.max))
end
