-- wrk script: one event per POST /v1/events, a fresh id each time, leaders
-- spread over LEADERS ids. Set by bench.sh through environment variables.
local leaders = tonumber(os.getenv("LEADERS") or "1000")
local token = os.getenv("TOKEN")
local counter = 0
local prefix
local urls = os.getenv("URLS") == "1"

-- A run's ids must be new to Redis, or they score as duplicates (cheaper):
-- RUN (set per run by the scripts) and the thread's number make them so.
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", (os.getenv("RUN") or tostring(os.time())) .. "t" .. threads)
end

function init(args)
  prefix = "b" .. tid .. "-"
  wrk.method = "POST"
  wrk.headers["Authorization"] = "Bearer " .. token
  wrk.headers["Content-Type"] = "application/json"
  if os.getenv("MINIMAL") == "1" then
    wrk.headers["Prefer"] = "return=minimal"
  end
end

function request()
  counter = counter + 1
  local url = ""
  if urls then
    url = string.format(',"url":"https://www.linkedin.com/feed/update/%s%d/?utm_source=bench"',
                        prefix, counter)
  end
  local body = string.format(
    '{"id":"%s%d","leader":"l%d","type":"post","channel":"linkedin"%s}',
    prefix, counter, counter % leaders, url)
  return wrk.format(nil, "/v1/events", nil, body)
end

function response(status, headers, body)
  if status ~= 200 then
    io.stderr:write("unexpected status " .. status .. ": " .. body .. "\n")
  end
end
