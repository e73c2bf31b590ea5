--[[
orgs.lua - the registry of orgs (orgs.c, orgadmin.c), and one org's usage.

Each org has a registry entry, a hash in the deployment's slot (keys.h:
podium:{#}:org:{id}): name, state, created, updated (Unix ms), quota
overrides (q_leaders, q_tokens, q_webhooks, q_eps) and, while it is erased,
erased (keys deleted so far). States: "creating" (its first admin token is
being made), "active", "suspended", "deleting". A sorted set of every id,
all with score 0, lists them in id order. "default" exists without an
entry; an operator's change to it makes one.

Every operation but `hput` and `usage` touches only the registry's slot;
those two touch only one org's.

create    KEYS: entry, ids.
          ARGV: op, id, name, now, stale (ms: a "creating" entry older than
          this was left by a create that died, and is taken over).
          Reply: {"ok"} or {"exists", state}.
activate  KEYS: entry. ARGV: op, now.
          Reply: {"ok", fields} when it was creating, else {"busy", state}.
ensure    KEYS: entry, ids. ARGV: op, id, name, now. Makes the entry of an
          org that exists without one (default). Reply: 1 made, 0 there.
update    KEYS: entry, ids.
          ARGV: op, id, now, then field, value pairs; an empty value
          removes the field (a quota goes back to the default). "state" may
          only go between "active" and "suspended".
          Reply: {"ok", fields} or {"missing"} or {"busy", state} (being
          created or deleted).
delete    KEYS: entry, ids, due set of deletions.
          ARGV: op, id, now, when the erase may start (ms).
          Reply: {"ok", fields}, {"missing"}, or {"busy", "creating"}.
          A second delete answers "ok" again: the job is the same.
progress  KEYS: entry. ARGV: op, keys deleted in this step. Reply: the total.
purge     KEYS: entry, ids, then the due sets. ARGV: op, id. Reply: 1.
get       KEYS: entry. ARGV: op. Reply: {"ok", fields} or {"missing"}.
          (fields: the entry as HGETALL lists it)
list      KEYS: ids. ARGV: op, after (an id, "" = from the first), most,
          entry key prefix. Reply: {next ("" = no more), id, {fields}, ...}.
hput      KEYS: one of an org's hashes (its leaders). ARGV: op, field, value,
          most fields (0: no limit). An HSET within the org's quota.
          Reply: 1 a new field, 0 an existing one changed, -1 refused (the
          hash has `most` fields and this one is new).
usage     KEYS: leaders, tokens, webhooks, usage, rule set, event log (one
          org's). ARGV: op, this week's field of usage ("w:2026-W49").
          Reply: {leaders, tokens, webhooks, events (the sum of the weeks),
          events this week, the log's latest entry (Unix ms, 0 = none),
          rule set version (0 = none)}.
]]

local op = ARGV[1]
local call = redis.call

local function fields(key)
  return {'ok', call('HGETALL', key)}
end

if op == 'create' then
  local id, name, now, stale = ARGV[2], ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5])
  local cur = call('HMGET', KEYS[1], 'state', 'updated')
  if cur[1] and not (cur[1] == 'creating' and now - (tonumber(cur[2]) or 0) > stale) then
    return {'exists', cur[1]}
  end
  call('DEL', KEYS[1])
  call('HSET', KEYS[1], 'name', name, 'state', 'creating', 'created', ARGV[4], 'updated', ARGV[4])
  call('ZADD', KEYS[2], 0, id)
  return {'ok'}
end

if op == 'activate' then
  local state = call('HGET', KEYS[1], 'state')
  if state ~= 'creating' then return {'busy', state or 'missing'} end
  call('HSET', KEYS[1], 'state', 'active', 'updated', ARGV[2])
  return fields(KEYS[1])
end

if op == 'ensure' then
  if call('EXISTS', KEYS[1]) == 1 then return 0 end
  call('HSET', KEYS[1], 'name', ARGV[3], 'state', 'active', 'created', ARGV[4], 'updated', ARGV[4])
  call('ZADD', KEYS[2], 0, ARGV[2])
  return 1
end

if op == 'update' then
  local id, now = ARGV[2], ARGV[3]
  local state = call('HGET', KEYS[1], 'state')
  if not state then
    if id ~= 'default' then return {'missing'} end
    state = 'active'
    call('HSET', KEYS[1], 'name', 'Default', 'state', 'active', 'created', now)
    call('ZADD', KEYS[2], 0, id)
  end
  if state ~= 'active' and state ~= 'suspended' then return {'busy', state} end
  for i = 4, #ARGV - 1, 2 do
    local f, v = ARGV[i], ARGV[i + 1]
    if v == '' then call('HDEL', KEYS[1], f) else call('HSET', KEYS[1], f, v) end
  end
  call('HSET', KEYS[1], 'updated', now)
  return fields(KEYS[1])
end

if op == 'delete' then
  local id, now, start = ARGV[2], ARGV[3], ARGV[4]
  local state = call('HGET', KEYS[1], 'state')
  if not state then return {'missing'} end
  if state == 'creating' then return {'busy', state} end
  if state ~= 'deleting' then
    call('HSET', KEYS[1], 'state', 'deleting', 'updated', now, 'erased', 0)
    call('ZADD', KEYS[3], start, id)
  end
  return fields(KEYS[1])
end

if op == 'progress' then
  if call('HEXISTS', KEYS[1], 'state') == 0 then return 0 end
  return call('HINCRBY', KEYS[1], 'erased', ARGV[2])
end

if op == 'purge' then
  call('DEL', KEYS[1])
  call('ZREM', KEYS[2], ARGV[2])
  for k = 3, #KEYS do call('ZREM', KEYS[k], ARGV[2]) end
  return 1
end

if op == 'get' then
  if call('EXISTS', KEYS[1]) == 0 then return {'missing'} end
  return fields(KEYS[1])
end

if op == 'list' then
  local after, most, prefix = ARGV[2], tonumber(ARGV[3]), ARGV[4]
  local from = after == '' and '-' or '(' .. after
  local ids = call('ZRANGEBYLEX', KEYS[1], from, '+', 'LIMIT', 0, most + 1)
  local out = {''}
  for i = 1, math.min(#ids, most) do
    out[#out + 1] = ids[i]
    out[#out + 1] = call('HGETALL', prefix .. ids[i])
  end
  if #ids > most then out[1] = ids[most] end
  return out
end

if op == 'hput' then
  local most = tonumber(ARGV[4])
  if most > 0 and call('HEXISTS', KEYS[1], ARGV[2]) == 0 and call('HLEN', KEYS[1]) >= most then
    return -1
  end
  return call('HSET', KEYS[1], ARGV[2], ARGV[3])
end

if op == 'usage' then
  local weeks, total = call('HGETALL', KEYS[4]), 0
  for i = 2, #weeks, 2 do total = total + tonumber(weeks[i]) end
  local latest = call('XREVRANGE', KEYS[6], '+', '-', 'COUNT', 1)[1]
  return {call('HLEN', KEYS[1]), call('HLEN', KEYS[2]), call('HLEN', KEYS[3]),
          total, tonumber(call('HGET', KEYS[4], ARGV[2])) or 0,
          latest and tonumber(string.match(latest[1], '^%d+')) or 0,
          tonumber(call('HGET', KEYS[5], 'version')) or 0}
end

return redis.error_reply('orgs.lua: unknown operation ' .. tostring(op))
