-- wrk script: one event per POST /v1/events, like post1.lua, but spread over
-- many orgs: request n goes to org n % N with that org's ingest token (one
-- token per line of the file TOKENS; N is the number of lines) and leader
-- l(n / N % LEADERS) of that org. Set by orgs.sh through the environment.
local leaders = tonumber(os.getenv("LEADERS") or "1000")
local tokens = {}
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
  prefix = "b" .. tid .. "-"
  for line in io.lines(os.getenv("TOKENS")) do
    tokens[#tokens + 1] = "Bearer " .. line
  end
end

function request()
  counter = counter + 1
  local n = #tokens
  local body = string.format('{"id":"%s%d","leader":"l%d","type":"post","channel":"linkedin"}',
                             prefix, counter, math.floor(counter / n) % leaders)
  local headers = {["Authorization"] = tokens[counter % n + 1],
                   ["Content-Type"] = "application/json"}
  return wrk.format("POST", "/v1/events", headers, body)
end

function response(status, headers, body)
  if status ~= 200 then
    io.stderr:write("unexpected status " .. status .. ": " .. body .. "\n")
  end
end
