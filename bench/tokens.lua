-- wrk script for bench/sso.sh: GET with `Authorization: Bearer T`, T taken in turn from the lines of
-- the file named by the TOKENS environment variable. With THREADS set to wrk's -t, thread k sends
-- lines k+1, k+1+THREADS, … so that no two threads send the same token.
local counter = 0

function setup(thread)
  thread:set("offset", counter)
  counter = counter + 1
end

local tokens = {}
local next_index = 1
local stride = 1

function init(args)
  for line in io.lines(os.getenv("TOKENS")) do
    if #line > 0 then tokens[#tokens + 1] = line end
  end
  stride = tonumber(os.getenv("THREADS") or "1")
  next_index = (offset or 0) % #tokens + 1
end

function request()
  local token = tokens[next_index]
  next_index = (next_index - 1 + stride) % #tokens + 1
  return wrk.format("GET", nil, { ["Authorization"] = "Bearer " .. token })
end
