-- wrk script: GET the top 10 of the weekly board.
local token = os.getenv("TOKEN")

function init(args)
  wrk.headers["Authorization"] = "Bearer " .. token
end

function request()
  return wrk.format("GET", "/v1/challenges/weekly/leaderboard?limit=10")
end

function response(status, headers, body)
  if status ~= 200 then
    io.stderr:write("unexpected status " .. status .. "\n")
  end
end
