--[[
erase.lua - the Redis steps of erasing a leader (erase.c), by ARGV[1]:

"start": KEYS[1] leaders hash, KEYS[2] hidden set, KEYS[3] latest links,
  KEYS[4] the leader's badges, KEYS[5] the leader's adjustments list;
  ARGV[2] leader. Removes the profile first, so that from now on the
  leader's events are refused (unknown leader), then the rest. Reply: the
  leader's team ("" for none), or false when there is no such leader.

"board": KEYS[1] a board or hidden board, KEYS[2] its team board, KEYS[3]
  its team counts, KEYS[4] board versions, KEYS[5] its adjustments list;
  ARGV[2] leader, ARGV[3] board name ("challenge:period"), ARGV[4] team,
  ARGV[5] "1" for a board, "0" for a hidden board (no team points there).
  Removes the leader's standing and their part of the team board and of
  the board's adjustments. Reply: the board's new version, 0 if untouched.

"swap": KEYS[1] event log, KEYS[2] the log rewritten without the leader;
  ARGV[2] the id of the last entry the rewrite read ("" for none). Reply
  "more" when the log grew meanwhile (the rewrite reads on), else puts the
  rewritten log in place ("ok"); the old one is freed in the background.
]]

local K = 4294967296
local mode = ARGV[1]

if mode == 'start' then
  local profile = redis.call('HGET', KEYS[1], ARGV[2])
  if not profile then return false end
  redis.call('HDEL', KEYS[1], ARGV[2])
  redis.call('SREM', KEYS[2], ARGV[2])
  redis.call('HDEL', KEYS[3], ARGV[2])
  redis.call('DEL', KEYS[4], KEYS[5])
  return profile:match('"team":"([^"]*)"') or ''
end

if mode == 'board' then
  local z = redis.call('ZSCORE', KEYS[1], ARGV[2])
  local kept = {}
  local adj = ARGV[5] == '1' and redis.call('LRANGE', KEYS[5], 0, -1) or {}
  for _, a in ipairs(adj) do
    if a:sub(1, #ARGV[2] + 1) ~= ARGV[2] .. '|' then kept[#kept + 1] = a end
  end
  if not z and #kept == #adj then return 0 end
  if z then
    redis.call('ZREM', KEYS[1], ARGV[2])
    if ARGV[5] == '1' and ARGV[4] ~= '' then
      redis.call('ZINCRBY', KEYS[2], -math.floor(tonumber(z) / K), ARGV[4])
      redis.call('HINCRBY', KEYS[3], ARGV[4], -1)
    end
  end
  if #kept ~= #adj then
    redis.call('DEL', KEYS[5])
    if #kept > 0 then redis.call('RPUSH', KEYS[5], unpack(kept)) end
  end
  return redis.call('HINCRBY', KEYS[4], ARGV[3], 1)
end

if mode == 'swap' then
  local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)[1]
  if last and last[1] ~= ARGV[2] then return 'more' end
  redis.call('UNLINK', KEYS[1])
  if redis.call('EXISTS', KEYS[2]) == 1 then redis.call('RENAME', KEYS[2], KEYS[1]) end
  return 'ok'
end
return redis.error_reply('erase.lua: unknown mode')
