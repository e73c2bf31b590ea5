--[[
due.lua - the index of background work due across orgs (due.c).

One sorted set per kind of work (keys.h: podium:{#}:due:{kind}) maps an org
id to the Unix ms at which work of that kind is due in the org. A daemon
claims what is due by moving it to the end of a lease, so that only one
daemon works on an org's entry at a time; when done it sets the next due
time, unless somebody moved the entry meanwhile (ZADD LT by a writer who
made new work due sooner): then the entry is left to fire again.

claim  KEYS: the due sets.
       ARGV: op, now (ms), lease end (ms), then per key the most to claim.
       Reply: per key, the org ids claimed (each now scored the lease end).
done   KEYS[1]: one due set.
       ARGV: op, org id, the claimed score, next due (ms; 0 = no more work).
       Reply: 1, or 0 when the entry was moved since the claim (left as is).
]]

local op = ARGV[1]

if op == 'claim' then
  local now, lease = ARGV[2], ARGV[3]
  local out = {}
  for k = 1, #KEYS do
    local most = tonumber(ARGV[3 + k])
    local got = {}
    if most > 0 then
      got = redis.call('ZRANGEBYSCORE', KEYS[k], '-inf', now, 'LIMIT', 0, most)
      for _, org in ipairs(got) do redis.call('ZADD', KEYS[k], 'XX', lease, org) end
    end
    out[k] = got
  end
  return out
end

if op == 'done' then
  local cur = redis.call('ZSCORE', KEYS[1], ARGV[2])
  if not cur or tonumber(cur) ~= tonumber(ARGV[3]) then return 0 end
  if tonumber(ARGV[4]) > 0 then
    redis.call('ZADD', KEYS[1], 'XX', ARGV[4], ARGV[2])
  else
    redis.call('ZREM', KEYS[1], ARGV[2])
  end
  return 1
end

return redis.error_reply('due.lua: unknown operation ' .. tostring(op))
