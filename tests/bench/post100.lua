-- wrk script: 100 events per POST /v1/events batch, fresh ids; MINIMAL=1
-- sends Prefer: return=minimal, as an integration that needs no ranks would.
local leaders = tonumber(os.getenv("LEADERS") or "1000")
local token = os.getenv("TOKEN")
local counter = 0
local prefix

-- A run's ids must be new to Redis, or they score as duplicates (cheaper):
-- RUN (set per run by the scripts) and the thread's number make them so.
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", (os.getenv("RUN") or tostring(os.time())) .. "t" .. threads)
end

function init(args)
  prefix = "c" .. tid .. "-"
  wrk.method = "POST"
  wrk.headers["Authorization"] = "Bearer " .. token
  wrk.headers["Content-Type"] = "application/json"
  if os.getenv("MINIMAL") == "1" then
    wrk.headers["Prefer"] = "return=minimal" -- no ranks wanted: less Redis work
  end
end

function request()
  local parts = {}
  for i = 1, 100 do
    counter = counter + 1
    parts[i] = string.format('{"id":"%s%d","leader":"l%d","type":"reply"}',
                             prefix, counter, (counter * 7919) % leaders)
  end
  return wrk.format(nil, "/v1/events", nil, '{"events":[' .. table.concat(parts, ",") .. ']}')
end

function response(status, headers, body)
  if status ~= 200 then
    io.stderr:write("unexpected status " .. status .. ": " .. body .. "\n")
  end
end
