--[[
visibility.lua - hides or shows one leader on one board (visibility.c).

A hidden leader's standing lives on the board's hidden twin (keys.h
"hboard"), out of everybody's ranks and out of the team board; score.lua
keeps scoring them there. Moving merges: if the leader already has a
standing on the target (events scored while the move was under way), the
scores add up and the later reached second is kept. Composite scores are
explained in score.lua.

KEYS[1] the board to move from, KEYS[2] the board to move to, KEYS[3] the
team board, KEYS[4] the team counts, KEYS[5] board versions, KEYS[6]
leaders hash. ARGV[1] leader, ARGV[2] the board's name ("challenge:period"),
ARGV[3] "hide" or "show".
Reply: 0 when the leader was not on KEYS[1], else the board's new version.
]]

local K = 4294967296
local leader = ARGV[1]
local zs = redis.call('ZSCORE', KEYS[1], leader)
if not zs then return 0 end
zs = tonumber(zs)
local zd = redis.call('ZSCORE', KEYS[2], leader)
local function split(z) -- score, reached
  local s = math.floor(z / K)
  return s, K - 1 - (z - s * K)
end
local s, r = split(zs)
local moved = s
if zd then
  local s2, r2 = split(tonumber(zd))
  s, r = s + s2, math.max(r, r2)
end
redis.call('ZADD', KEYS[2], string.format('%d', s * K + (K - 1 - r)), leader)
redis.call('ZREM', KEYS[1], leader)

local profile = redis.call('HGET', KEYS[6], leader)
local team = profile and profile:match('"team":"([^"]*)"')
if team then
  if ARGV[3] == 'hide' then
    redis.call('ZINCRBY', KEYS[3], -moved, team)
    redis.call('HINCRBY', KEYS[4], team, -1)
  else
    redis.call('ZINCRBY', KEYS[3], s, team)
    redis.call('HINCRBY', KEYS[4], team, 1)
  end
end
return redis.call('HINCRBY', KEYS[5], ARGV[2], 1)
