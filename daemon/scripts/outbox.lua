--[[
outbox.lua - the webhook outbox of one org: endpoints, due deliveries, their
records and history, changed atomically (webhook.c, http_webhooks.c).

Keys (keys.h): KEYS[1] endpoints hash (id -> endpoint JSON: url, format,
events, key, created, disabled, disabled_at), KEYS[2] due zset (delivery id
-> due time, Unix ms), KEYS[3] records hash (delivery id -> record), then
per operation as below.

A delivery id is "msg_<endpoint id>_<n>": the endpoint it goes to can be
read from it, and ZSCAN MATCH finds an endpoint's pending deliveries without
reading any record. A record is one header line "type created attempts
codes" (codes: the outcomes of the attempts so far, newest last, at most
10, comma-separated, "-" for none: an HTTP status, or "timeout", "connect",
"error"), a newline, then the event's payload JSON.

A delivery is in the due zset until it is finished (delivered, failed,
dropped). Claiming one moves its due time to the end of the claimer's
lease, and that time is the claim's fencing token: a report whose lease is
not the delivery's current due time comes from a claim that another daemon
took over, or from before the endpoint was deleted or disabled, and is
ignored ("stale").

Operations (ARGV[1]):
  enqueue  KEYS[4] sequence counter, KEYS[5..] one dedupe key per payload
           (none for a test event). ARGV: type, now, dedupe TTL (s), endpoint
           id ("" = every enabled endpoint subscribed to type), payloads...
           For each payload whose dedupe key is new, one delivery to each
           chosen endpoint, due now (with no endpoint chosen, nothing at
           all: not even the dedupe keys). -> {queued, skipped payloads, first
           delivery id or ""}, or {-1} when the named endpoint does not exist,
           {-2} when it is disabled.
  claim    ARGV: now, lease (ms), most. Up to `most` due deliveries, each
           moved to now + lease. -> {lease end, the earliest due time left
           (a claimed one's lease end included; "" when none), (id, record,
           endpoint JSON or "")...}
  report   KEYS[4] the endpoint's history list. ARGV: id, lease end, now,
           outcome, code, next due, history length. outcome: delivered,
           failed, dropped (the delivery leaves the outbox and is recorded
           in the history, newest first), retry (due again at next due),
           release (due again now, attempt not counted: a stopping daemon
           gives it back), gone (the receiver answered 410: the endpoint is
           disabled and every pending delivery to it dropped and recorded).
           -> "ok", "stale", or for gone the number of deliveries dropped.
  register ARGV: endpoint id, endpoint JSON, most endpoints. -> 1 stored, 0
           the id is taken, -1 the org has `most` endpoints already.
  delete   KEYS[4] the endpoint's history list. ARGV: endpoint id. The
           endpoint, its pending deliveries and its history go. -> 1, or 0
           when there was no such endpoint.
  enable   ARGV: endpoint id. -> the endpoint JSON, now enabled, or false.
  list     KEYS[4] the endpoint's history list. ARGV: endpoint id, most.
           -> {endpoint JSON or false, {history JSON...}, {pending JSON...}}
           with at most `most` of each.
]]

local call, op = redis.call, ARGV[1]
local ENDPOINTS, DUE, RECORDS = KEYS[1], KEYS[2], KEYS[3]

-- The header fields of a record and its payload.
local function parse(rec)
  local ty, created, attempts, codes, payload = rec:match('^(%S+) (%d+) (%d+) (%S+)\n(.*)$')
  return ty, tonumber(created), tonumber(attempts), codes, payload
end

-- A record with a new header.
local function record(ty, created, attempts, codes, payload)
  return ty .. ' ' .. string.format('%d', created) .. ' ' .. attempts .. ' ' .. codes .. '\n' ..
    payload
end

-- The JSON array of a codes list: numbers stay numbers, words become strings.
local function codes_json(codes)
  if codes == '-' then return '[]' end
  local out = {}
  for c in codes:gmatch('[^,]+') do
    out[#out + 1] = tonumber(c) and c or ('"' .. c .. '"')
  end
  return '[' .. table.concat(out, ',') .. ']'
end

-- One delivery as history or listing JSON (ids and types are plain ASCII).
local function entry(id, ty, created, attempts, codes, at_name, at, outcome)
  return string.format('{"id":"%s","type":"%s","attempts":%d,"statuses":%s,"created":%d,' ..
    '"%s":%d,"outcome":"%s"}', id, ty, attempts, codes_json(codes), created, at_name, at, outcome)
end

-- Pending delivery ids of endpoint ep (in the due zset), at most `most` (nil: all).
local function pending(ep, most)
  local ids, cursor = {}, '0'
  repeat
    local r = call('ZSCAN', DUE, cursor, 'MATCH', 'msg_' .. ep .. '_*', 'COUNT', 1000)
    cursor = r[1]
    for i = 1, #r[2], 2 do
      if most and #ids >= most then return ids end
      ids[#ids + 1] = r[2][i]
    end
  until cursor == '0'
  return ids
end

-- Drops every pending delivery of ep, recording each in hist when given.
local function drop_all(ep, hist, now, hmax)
  local ids = pending(ep, nil)
  for _, id in ipairs(ids) do
    local rec = call('HGET', RECORDS, id)
    if rec and hist then
      local ty, created, attempts, codes = parse(rec)
      call('LPUSH', hist, entry(id, ty, created, attempts, codes, 'finished', now, 'dropped'))
    end
    call('ZREM', DUE, id)
    call('HDEL', RECORDS, id)
  end
  if hist then call('LTRIM', hist, 0, hmax - 1) end
  return #ids
end

if op == 'enqueue' then
  local ty, now, ttl, only = ARGV[2], tonumber(ARGV[3]), ARGV[4], ARGV[5]
  local chosen = {}
  if only ~= '' then
    local js = call('HGET', ENDPOINTS, only)
    if not js then return {-1} end
    if cjson.decode(js).disabled then return {-2} end
    chosen[1] = only
  else
    local all = call('HGETALL', ENDPOINTS)
    for i = 1, #all, 2 do
      local ep = cjson.decode(all[i + 1])
      if not ep.disabled then
        for _, e in ipairs(ep.events or {}) do
          if e == ty then chosen[#chosen + 1] = all[i] break end
        end
      end
    end
  end
  local queued, skipped, first = 0, 0, ''
  -- Nobody listens: nothing to queue, and no dedupe keys either (a close
  -- of 100,000 leaders would otherwise leave as many keys for 4 days).
  if #chosen == 0 then return {0, 0, ''} end
  local dedupe = #KEYS > 4
  for i = 6, #ARGV do
    if dedupe and not call('SET', KEYS[i - 1], '1', 'NX', 'EX', ttl) then
      skipped = skipped + 1
    else
      local rec = record(ty, now, 0, '-', ARGV[i])
      for _, ep in ipairs(chosen) do
        local id = 'msg_' .. ep .. '_' .. call('INCR', KEYS[4])
        call('HSET', RECORDS, id, rec)
        call('ZADD', DUE, now, id)
        queued = queued + 1
        if first == '' then first = id end
      end
    end
  end
  return {queued, skipped, first}
end

if op == 'claim' then
  local now, lease, most = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
  local till = now + lease
  local out, eps = {till}, {}
  local ids = call('ZRANGEBYSCORE', DUE, '-inf', now, 'LIMIT', 0, most)
  for _, id in ipairs(ids) do
    local rec = call('HGET', RECORDS, id)
    if not rec then
      call('ZREM', DUE, id)
    else
      call('ZADD', DUE, till, id)
      local ep = id:match('^msg_([^_]+)_')
      if eps[ep] == nil then eps[ep] = call('HGET', ENDPOINTS, ep) or '' end
      out[#out + 1] = id
      out[#out + 1] = rec
      out[#out + 1] = eps[ep]
    end
  end
  local first = call('ZRANGE', DUE, 0, 0, 'WITHSCORES')
  table.insert(out, 2, first[2] or '')
  return out
end

if op == 'report' then
  local id, lease, now, outcome = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5]
  local code, nextdue, hmax, hist = ARGV[6], tonumber(ARGV[7]), tonumber(ARGV[8]), KEYS[4]
  local due = call('ZSCORE', DUE, id)
  local rec = call('HGET', RECORDS, id)
  if not due or tonumber(due) ~= lease or not rec then return 'stale' end
  if outcome == 'release' then
    call('ZADD', DUE, now, id)
    return 'ok'
  end
  local ty, created, attempts, codes, payload = parse(rec)
  if outcome ~= 'dropped' then
    attempts = attempts + 1
    codes = codes == '-' and code or (codes .. ',' .. code)
    local n = select(2, codes:gsub(',', ''))
    if n >= 10 then codes = codes:gsub('^[^,]*,', '') end
  end
  if outcome == 'retry' then
    call('HSET', RECORDS, id, record(ty, created, attempts, codes, payload))
    call('ZADD', DUE, nextdue, id)
    return 'ok'
  end
  call('ZREM', DUE, id)
  call('HDEL', RECORDS, id)
  local ep = id:match('^msg_([^_]+)_')
  local js = call('HGET', ENDPOINTS, ep)
  if not js then return 'ok' end -- a deleted endpoint keeps no history
  local shown = outcome == 'gone' and 'disabled' or outcome
  call('LPUSH', hist, entry(id, ty, created, attempts, codes, 'finished', now, shown))
  call('LTRIM', hist, 0, hmax - 1)
  if outcome ~= 'gone' then return 'ok' end
  do
    local e = cjson.decode(js)
    e.disabled = true
    e.disabled_at = now
    call('HSET', ENDPOINTS, ep, cjson.encode(e))
  end
  return drop_all(ep, hist, now, hmax)
end

if op == 'register' then
  if call('HLEN', ENDPOINTS) >= tonumber(ARGV[4]) then return -1 end
  return call('HSETNX', ENDPOINTS, ARGV[2], ARGV[3])
end

if op == 'delete' then
  local ep = ARGV[2]
  if call('HDEL', ENDPOINTS, ep) == 0 then return 0 end
  drop_all(ep, nil, 0, 0)
  call('DEL', KEYS[4])
  return 1
end

if op == 'enable' then
  local js = call('HGET', ENDPOINTS, ARGV[2])
  if not js then return false end
  local e = cjson.decode(js)
  e.disabled = false
  e.disabled_at = nil
  js = cjson.encode(e)
  call('HSET', ENDPOINTS, ARGV[2], js)
  return js
end

if op == 'list' then
  local ep, most = ARGV[2], tonumber(ARGV[3])
  local js = call('HGET', ENDPOINTS, ep)
  if not js then return {false, {}, {}} end
  local hist = call('LRANGE', KEYS[4], 0, most - 1)
  local pend = {}
  for _, id in ipairs(pending(ep, most)) do
    local rec = call('HGET', RECORDS, id)
    if rec then
      local ty, created, attempts, codes = parse(rec)
      local due = tonumber(call('ZSCORE', DUE, id))
      pend[#pend + 1] = entry(id, ty, created, attempts, codes, 'next_attempt', due, 'pending')
    end
  end
  return {js, hist, pend}
end

return redis.error_reply('outbox.lua: unknown operation ' .. tostring(op))
