--[[
close.lua - the Redis steps of closing a period, or of a mid-period digest,
exactly once however many daemons try (closer.c drives them).

A job (closing challenge ch's period per, or sending its mid-period
digests) lives in one hash, the job key: owner (the daemon working on it),
lease (Unix ms until which the owner holds it), step and cursor (how far it
got), archive (the final standings, once read). A daemon that claims a job
whose owner's lease ran out takes it over where it stopped; every step
before "finish" only writes values that a second run writes again the same
(HSET of a digest, a badge), so a step cut short is simply done again. The
job is over when the done hash has the period: then nobody claims it again.
Each call touches at most one chunk of the board (closer.c asks for
CLOSER_CHUNK leaders), so that Redis is never held for long.

ARGV[1] is the operation:

claim   KEYS: done hash, job hash.
        ARGV: op, period, owner, now (ms), lease (ms).
        Reply: {"done"} | {"busy"} | {"go", step, cursor, archive}.

read    KEYS: board, leaders hash, day states hash, previous board (the
        board itself when there is none).
        ARGV: op, offset, count, "1" if there is a previous board.
        Reply: {above, above_rank, id, score, rank, profile, days, prev_rank,
        ...}: `above` is the lowest score above the first entry's ("" when
        that entry ranks first) and above_rank its rank; per entry the
        competition rank, the profile JSON and day state ("" when none),
        and the rank on the previous board (0 when not there). Scores are
        whole points (see score.lua for the composite).

write   KEYS: job hash, then the hashes written.
        ARGV: op, owner, now (ms), lease (ms), nj, nj pairs of job fields
        and values, then triples (key index, field, value) to HSET.
        Reply: 1, or 0 (nothing written) when the job is no longer ours.

finish  KEYS: done hash, job hash, closed periods zset (or the job hash
        again for a digest), retention zset.
        ARGV: op, owner, period, record, closed at (Unix s), expire at
        (Unix s, 0 = keep), channel ("" = none), message, then the keys
        that expire with the period.
        Reply: 1, or 0 when the job is no longer ours.

oldest  KEYS: boards of periods that ended, oldest first. ARGV: op.
        Reply: the 1-based number of the first board that holds anybody, or
        0 (a challenge none of whose periods closed yet: where to start).

list    KEYS: records hash (the done hash of closes), closed periods zset.
        ARGV: op, offset, count.
        Reply: {total, record, ...}, newest first.

after   KEYS: closed periods zset, records hash.
        ARGV: op, mark (the newest closed period already seen; "" when none
        existed then; "?" to ask for the newest only), most.
        Reply: {newest, id1, record1, id2, record2, ...}: the newest closed
        period ("" when none), then each closed period after the mark,
        oldest first (the newest `most` when more were missed). A mark that
        is not in the set (trimmed, or Redis lost it) yields none. For SSE
        streams (sse.c): what a resuming client missed, or what a stream has
        not passed on yet.

sweep   KEYS: retention zset.
        ARGV: op, now (Unix s), most (members handled), key prefix
        ("podium:{org}:").
        Members are key names, UNLINKed (freed in Redis's background
        thread, so a big board never blocks it), or "period <ch> <per>",
        whose archive record and place in the list of closed periods go.
        Reply: {members handled, the Unix s of the next expiry, or "" when
        none waits}.
]]

local call, tonumber, floor = redis.call, tonumber, math.floor
local K = 4294967296
local op = ARGV[1]

-- Whether the job is still ours; renews the lease when it is.
local function ours(job, owner, now, lease)
  if call('HGET', job, 'owner') ~= owner then return false end
  call('HSET', job, 'lease', now + lease)
  return true
end

if op == 'claim' then
  local per, owner, now, lease = ARGV[2], ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5])
  if call('HEXISTS', KEYS[1], per) == 1 then return {'done'} end
  local j = call('HMGET', KEYS[2], 'owner', 'lease', 'step', 'cursor', 'archive')
  if j[1] and j[1] ~= owner and tonumber(j[2]) > now then return {'busy'} end
  call('HSET', KEYS[2], 'owner', owner, 'lease', now + lease)
  if not j[3] then
    j[3], j[4] = 'archive', '0'
    call('HSET', KEYS[2], 'step', j[3], 'cursor', j[4])
    call('EXPIRE', KEYS[2], 8 * 86400) -- an abandoned job does not stay forever
  end
  return {'go', j[3], j[4], j[5] or ''}
end

if op == 'read' then
  local off, n, hasprev = tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4] == '1'
  local r = call('ZREVRANGE', KEYS[1], off, off + n - 1, 'WITHSCORES')
  local out = {'', 0}
  if #r == 0 then return out end
  local function num(x) return string.format('%.17g', x) end
  local ids, scores = {}, {}
  for i = 1, #r, 2 do
    ids[#ids + 1] = r[i]
    scores[#scores + 1] = floor(tonumber(r[i + 1]) / K)
  end
  -- The first entry's rank, and the lowest score above it.
  local rank = call('ZCOUNT', KEYS[1], num((scores[1] + 1) * K), '+inf') + 1
  if rank > 1 then
    local a = call('ZRANGEBYSCORE', KEYS[1], num((scores[1] + 1) * K), '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
    local s = floor(tonumber(a[2]) / K)
    out[1] = string.format('%d', s)
    out[2] = call('ZCOUNT', KEYS[1], num((s + 1) * K), '+inf') + 1
  end
  local profiles = call('HMGET', KEYS[2], unpack(ids))
  local days = call('HMGET', KEYS[3], unpack(ids))
  for i = 1, #ids do
    if i > 1 and scores[i] ~= scores[i - 1] then rank = off + i end
    local prev = 0
    if hasprev then
      local z = call('ZSCORE', KEYS[4], ids[i])
      if z then
        prev = call('ZCOUNT', KEYS[4], num((floor(tonumber(z) / K) + 1) * K), '+inf') + 1
      end
    end
    out[#out + 1] = ids[i]
    out[#out + 1] = string.format('%d', scores[i])
    out[#out + 1] = rank
    out[#out + 1] = profiles[i] or ''
    out[#out + 1] = days[i] or ''
    out[#out + 1] = prev
  end
  return out
end

if op == 'write' then
  if not ours(KEYS[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])) then return 0 end
  local nj = tonumber(ARGV[5])
  if nj > 0 then call('HSET', KEYS[1], unpack(ARGV, 6, 5 + 2 * nj)) end
  for i = 6 + 2 * nj, #ARGV, 3 do
    call('HSET', KEYS[tonumber(ARGV[i])], ARGV[i + 1], ARGV[i + 2])
  end
  return 1
end

if op == 'finish' then
  if call('HGET', KEYS[2], 'owner') ~= ARGV[2] then return 0 end
  local per, at, expire = ARGV[3], tonumber(ARGV[5]), tonumber(ARGV[6])
  call('HSET', KEYS[1], per, ARGV[4])
  if KEYS[3] ~= KEYS[2] then call('ZADD', KEYS[3], at, per) end
  if expire > 0 then
    for i = 9, #ARGV do call('ZADD', KEYS[4], expire, ARGV[i]) end
  end
  call('DEL', KEYS[2])
  if ARGV[7] ~= '' then call('PUBLISH', ARGV[7], ARGV[8]) end
  return 1
end

if op == 'oldest' then
  for k = 1, #KEYS do
    if call('EXISTS', KEYS[k]) == 1 then return k end
  end
  return 0
end

if op == 'list' then
  local ids = call('ZREVRANGE', KEYS[2], tonumber(ARGV[2]), tonumber(ARGV[2]) + tonumber(ARGV[3]) - 1)
  local out = {call('ZCARD', KEYS[2])}
  if #ids > 0 then
    for _, rec in ipairs(call('HMGET', KEYS[1], unpack(ids))) do
      if rec then out[#out + 1] = rec end
    end
  end
  return out
end

if op == 'after' then
  local newest = call('ZRANGE', KEYS[1], -1, -1)[1] or ''
  if ARGV[2] == '?' then return {newest} end
  local start = 0
  if ARGV[2] ~= '' then
    local r = call('ZRANK', KEYS[1], ARGV[2])
    if not r then return {newest} end
    start = r + 1
  end
  local n, most = call('ZCARD', KEYS[1]), tonumber(ARGV[3])
  if n - start > most then start = n - most end
  local out = {newest}
  for _, id in ipairs(call('ZRANGE', KEYS[1], start, -1)) do
    out[#out + 1] = id
    out[#out + 1] = call('HGET', KEYS[2], id) or ''
  end
  return out
end

if op == 'sweep' then
  local due = call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[2], 'LIMIT', 0, tonumber(ARGV[3]))
  for _, m in ipairs(due) do
    local ch, per = string.match(m, '^period (%S+) (%S+)$')
    if ch then
      call('HDEL', ARGV[4] .. 'periods:' .. ch, per)
      call('ZREM', ARGV[4] .. 'closedp:' .. ch, per)
    else
      call('UNLINK', m)
    end
    call('ZREM', KEYS[1], m)
  end
  local nxt = call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return {#due, nxt[2] or ''}
end

return redis.error_reply('close.lua: unknown operation ' .. tostring(op))
