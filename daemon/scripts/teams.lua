--[[
teams.lua - a challenge period's team board.

Read-only. KEYS[1] team board (zset: team -> sum of its members' points,
written by score.lua), KEYS[2] team counts (hash: team -> members who
scored), KEYS[3] teams hash (team -> profile JSON). ARGV[1] most teams to
return. Reply: {team, sum, members, profile or "", ...} by sum, highest
first (the daemon ranks them, by sum or by average).
]]

local z = redis.call('ZREVRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1, 'WITHSCORES')
if #z == 0 then return {} end
local ids = {}
for i = 1, #z, 2 do ids[#ids + 1] = z[i] end
local counts = redis.call('HMGET', KEYS[2], unpack(ids))
local profiles = redis.call('HMGET', KEYS[3], unpack(ids))
local out = {}
for i = 1, #ids do
  out[#out + 1] = ids[i]
  out[#out + 1] = z[2 * i]
  out[#out + 1] = counts[i] or '0'
  out[#out + 1] = profiles[i] or ''
end
return out
