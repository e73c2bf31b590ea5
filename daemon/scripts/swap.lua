--[[
swap.lua - the last step of a rescore (replay.c): put the rebuilt boards in
place of the live ones, unless the log grew meanwhile.

KEYS[1] event log, KEYS[2] board versions, KEYS[3] leaders hash, KEYS[4]
the board's list of admin adjustments ("leader|points|reached", written by
adjust.lua), then pairs (rebuilt, live) for the period board, its team
board, its team counts and its hidden twin. ARGV[1] the id of the last log entry the replay
read ("" when it read none), ARGV[2] the end of the log range that counts
for the period ("+" for all of it), ARGV[3] the board's name
("challenge:period").

The board's adjustments are applied to the rebuilt board here, as they were
to the live one: points added, reached at the same second. Composite scores
are explained in score.lua.

Reply: {"more"} when the log has entries in range after ARGV[1] (the replay
reads them and tries again), else {"ok", version, adjustments applied}. The
live keys are UNLINKed (freed in the background), so no call blocks Redis
for long whatever the size of the board.
]]

local K = 4294967296
local last = redis.call('XREVRANGE', KEYS[1], ARGV[2], '-', 'COUNT', 1)[1]
if last and last[1] ~= ARGV[1] then return {'more'} end

local board, tboard, tcount = KEYS[5], KEYS[7], KEYS[9]
local adjustments = redis.call('LRANGE', KEYS[4], 0, -1)
for _, a in ipairs(adjustments) do
  local leader, pts, when = a:match('^([^|]+)|(-?%d+)|(%d+)$')
  if leader then
    pts, when = tonumber(pts), tonumber(when)
    local z = redis.call('ZSCORE', board, leader)
    local score = z and math.floor(tonumber(z) / K) or 0
    redis.call('ZADD', board, string.format('%d', (score + pts) * K + (K - 1 - when)), leader)
    local profile = redis.call('HGET', KEYS[3], leader)
    local team = profile and profile:match('"team":"([^"]*)"')
    if team then
      redis.call('ZINCRBY', tboard, pts, team)
      if not z then redis.call('HINCRBY', tcount, team, 1) end
    end
  end
end

for i = 5, #KEYS, 2 do
  redis.call('UNLINK', KEYS[i + 1])
  if redis.call('EXISTS', KEYS[i]) == 1 then redis.call('RENAME', KEYS[i], KEYS[i + 1]) end
end
return {'ok', redis.call('HINCRBY', KEYS[2], ARGV[3], 1), #adjustments}
