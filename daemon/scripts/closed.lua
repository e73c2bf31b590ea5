-- closed.lua: the closed periods of a challenge after a mark, for SSE
-- streams (sse.c): what a resuming client missed, or what a stream has not
-- passed on yet.
--
-- KEYS[1] podium:{org}:closedp:{ch}  zset of closed period ids by close time
-- KEYS[2] podium:{org}:periods:{ch}  hash period id -> archive JSON
-- ARGV[1] the newest closed period already seen; "" when none existed then;
--         "?" to ask for the newest closed period only
-- ARGV[2] most periods returned (the newest ones when more were missed)
--
-- Returns {newest, id1, json1, id2, json2, ...}: the newest closed period
-- ("" when none), then each closed period after the mark, oldest first.
-- A mark that is not in the set (trimmed, or Redis lost it) yields none.
local newest = redis.call('ZRANGE', KEYS[1], -1, -1)[1] or ''
if ARGV[1] == '?' then
  return {newest}
end
local start = 0
if ARGV[1] ~= '' then
  local r = redis.call('ZRANK', KEYS[1], ARGV[1])
  if not r then
    return {newest}
  end
  start = r + 1
end
local n = redis.call('ZCARD', KEYS[1])
local max = tonumber(ARGV[2])
if n - start > max then
  start = n - max
end
local out = {newest}
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], start, -1)) do
  out[#out + 1] = id
  out[#out + 1] = redis.call('HGET', KEYS[2], id) or ''
end
return out
