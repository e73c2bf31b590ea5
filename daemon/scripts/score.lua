--[[
score.lua - applies one batch of activity events atomically.

Called by ingest.c with EVALSHA. The daemon has already validated the
events against the rules and worked out, for each event, its base points and
the boards (challenge periods) it counts in; this script does everything that
needs shared state, so that any number of daemons stay correct:
  - leaders must exist (a group with an unknown leader is refused whole);
  - idempotency: an event id seen before returns its first result, marked as
    a duplicate, and changes nothing;
  - per-type daily caps, one counter per leader, type, challenge and local
    day (a challenge's period board and all-time board share it);
  - board scores, where equal scores keep the order in which they were reached;
  - the events and their results appended to the org's event log, one
    stream entry per call: fields "e" (the event as JSON) and "r" (its
    result string), repeated per event in order.

Cost. A redis.call costs about a microsecond of overhead beyond the command,
so the script reads and writes per batch wherever it can: one HMGET for the
leaders, one HMGET per idempotency bucket, one MGET for the cap counters,
one ZMSCORE and one ZADD per board, one XADD for the log, and works in Lua
tables in between. Per leader and board remains one ZCOUNT for the rank.

Boards are sorted sets whose score is a composite:
    score * 2^32 + (2^32 - 1 - reached)
where `reached` is the second, counted from the period's start, at which the
leader reached that score. Higher scores rank first; among equal scores the
earlier reacher has the larger composite and is listed first. Composites stay
exact doubles while |score| < 2^21. Competition rank ("1224") is one plus the
number of members whose composite is at least (score + 1) * 2^32.

Idempotency records live in one hash per window of `ttl` seconds of arrival
(field: event id, value: its result string), expiring `ttl` seconds after
the window ends; a lookup asks the current and the previous window.

KEYS[1] leaders hash, KEYS[2] event stream, KEYS[3] board versions hash,
KEYS[4..] idempotency buckets (the current first), boards and cap counters,
referred to by index.
ARGV: now_ms, expire-at of the current bucket (Unix s), n_buckets, n_boards,
      n_groups, per board: key index, name ("challenge:period"), period start (Unix s),
      then the events as one MessagePack array, so that numbers arrive as
      numbers and Redis parses one argument instead of thousands:
      per group: n_events, ranks wanted (bool), then per event:
        id, idempotent (bool), leader, points, event JSON, at (Unix s), n_challenges,
        per challenge: period board number, all-time board number (0 = none),
        points, cap key index (0 = none), cap.
Reply: { {name, version, ...} for boards that changed, then one entry per
group: {"E", event numbers with unknown leaders} or one result string per
event: "dup|points|reasons|name|points|score|rank|name|...". }
]]

local K = 4294967296
local ARGV, KEYS, call, tonumber = ARGV, KEYS, redis.call, tonumber
local format, concat, floor, sub, unpack = string.format, table.concat, math.floor, string.sub, unpack
local nbuckets, nb, ng = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local a = 6
local function num(x) return format('%d', x) end -- composites are exact integers

local bkey, bname, bstart = {}, {}, {}
for b = 1, nb do
  bkey[b] = KEYS[tonumber(ARGV[a])]
  bname[b] = ARGV[a + 1]
  bstart[b] = tonumber(ARGV[a + 2])
  a = a + 3
end
local A = cmsgpack.unpack(ARGV[a])
a = 1

-- One pass over the events into flat arrays: events (ep: offset in A, el: leader,
-- ens/es0: their standings), standings (sb board, spts points, swhen
-- reached, sci cap key, scap cap), and what must be read in bulk.
local gfirst, gn = {}, {}
local ep, el, ens, es0 = {}, {}, {}, {}
local sb, spts, swhen, sci, scap = {}, {}, {}, {}, {}
local names, named, ids, capkeys, capseen = {}, {}, {}, {}, {}
local wlist, wset, rwant = {}, {}, {}
local ne, ns = 0, 0
for g = 1, ng do
  local n, ranks = A[a], A[a + 1]
  a = a + 2
  gfirst[g], gn[g] = ne + 1, n
  for _ = 1, n do
    ne = ne + 1
    local leader, at, k = A[a + 2], A[a + 5], A[a + 6]
    ep[ne], el[ne], es0[ne] = a, leader, ns + 1
    if not named[leader] then
      named[leader] = true
      names[#names + 1] = leader
    end
    if A[a + 1] then ids[#ids + 1] = A[a] end
    a = a + 7
    for _ = 1, k do
      local b1, b2, pts, ci, cap = A[a], A[a + 1], A[a + 2], A[a + 3], A[a + 4]
      if ci > 0 and not capseen[ci] then
        capseen[ci] = true
        capkeys[#capkeys + 1] = ci
      end
      for t = 1, b2 > 0 and 2 or 1 do -- the period board, then the all-time board
        local b = t == 1 and b1 or b2
        ns = ns + 1
        local when = at - bstart[b]
        if when < 0 then when = 0 elseif when > K - 1 then when = K - 1 end
        sb[ns], spts[ns], swhen[ns], sci[ns], scap[ns] = b, pts, when, ci, cap
        local w = wset[b]
        if w == nil then
          w = {}
          wset[b], wlist[b] = w, {}
        end
        if not w[leader] then
          w[leader] = true
          local l = wlist[b]
          l[#l + 1] = leader
        end
        if ranks then
          local r = rwant[b]
          if r == nil then r = {}; rwant[b] = r end
          r[leader] = true
        end
      end
      a = a + 5
    end
    ens[ne] = ns - es0[ne] + 1
  end
end

local known = {}
if #names > 0 then
  local found = call('HMGET', KEYS[1], unpack(names))
  for i = 1, #names do known[names[i]] = found[i] end
end

local first = {} -- event id -> result string of an earlier call
if #ids > 0 then
  for k = 1, nbuckets do
    local found = call('HMGET', KEYS[3 + k], unpack(ids))
    for i = 1, #ids do
      if found[i] and not first[ids[i]] then first[ids[i]] = found[i] end
    end
  end
end

local capv, capdirty = {}, {}
if #capkeys > 0 then
  local ck = {}
  for i = 1, #capkeys do ck[i] = KEYS[capkeys[i]] end
  local found = call('MGET', unpack(ck))
  for i = 1, #capkeys do capv[capkeys[i]] = tonumber(found[i] or '0') end
end

-- Current scores: score[b][leader], false when the leader is not on board b.
local score, reached, dirty = {}, {}, {}
for b, list in pairs(wlist) do
  local s = {}
  score[b], reached[b], dirty[b] = s, {}, {}
  local found = call('ZMSCORE', bkey[b], unpack(list))
  for i = 1, #list do
    s[list[i]] = found[i] and floor(tonumber(found[i]) / K) or false
  end
end

-- Work out every event in memory. For a new event, epoints/ereason hold
-- its result and scur[j] the score after it on standing j's board.
local out, seen, fresh = {}, {}, {}
local epoints, ereason, scur, dupof = {}, {}, {}, {}
for g = 1, ng do
  local bad = {'E'}
  for i = gfirst[g], gfirst[g] + gn[g] - 1 do
    if not known[el[i]] then bad[#bad + 1] = i - gfirst[g] + 1 end
  end
  if #bad > 1 then
    out[g] = bad
  else
    for i = gfirst[g], gfirst[g] + gn[g] - 1 do
      local p, leader = ep[i], el[i]
      local idem = A[p + 1]
      local id = A[p]
      local prior = idem and (seen[id] or first[id])
      if prior then
        dupof[i] = prior -- an event number of this call, or an earlier result
      else
        local capped, caps = 0, nil
        for j = es0[i], es0[i] + ens[i] - 1 do
          local b, pts, ci = sb[j], spts[j], sci[j]
          if ci > 0 then
            caps = caps or {}
            if not caps[ci] then
              caps[ci] = true
              capv[ci] = capv[ci] + 1
              capdirty[ci] = true
            end
            if capv[ci] > scap[j] then
              pts = 0
              capped = capped + 1
              spts[j] = 0
            end
          end
          local s = score[b]
          local cur = s[leader]
          if pts ~= 0 then
            cur = (cur or 0) + pts
            s[leader] = cur
            reached[b][leader] = swhen[j]
            dirty[b][leader] = true
          end
          scur[j] = cur
        end
        local pts = A[p + 3]
        if capped > 0 and capped == ens[i] then pts = 0 end
        epoints[i], ereason[i] = pts, capped > 0 and 'daily_cap' or ''
        fresh[#fresh + 1] = i
        if idem then seen[id] = i end
      end
    end
  end
end

-- Write each board once, then rank the leaders whose requests want ranks
-- (a client that sends "Prefer: return=minimal" does not).
local rank, versions = {}, {}
for b = 1, nb do
  local s = score[b]
  if s then
    local z, d, rb = {'ZADD', bkey[b]}, dirty[b], reached[b]
    for leader in pairs(d) do
      z[#z + 1] = num(s[leader] * K + (K - 1 - rb[leader]))
      z[#z + 1] = leader
    end
    if #z > 2 then
      call(unpack(z))
      versions[#versions + 1] = bname[b]
      versions[#versions + 1] = call('HINCRBY', KEYS[3], bname[b], 1)
    end
    local r, key = {}, bkey[b]
    for leader in pairs(rwant[b] or r) do
      local v = s[leader]
      if v then r[leader] = call('ZCOUNT', key, num((v + 1) * K), '+inf') + 1 end
    end
    rank[b] = r
  end
end

for ci in pairs(capdirty) do
  call('SET', KEYS[ci], capv[ci], 'EX', 172800)
end

-- Results of new events: remembered for retries and appended to the log.
local idem, log, result, parts = {'HSET', KEYS[4]}, {'XADD', KEYS[2], '*'}, {}, {}
for f = 1, #fresh do
  local i = fresh[f]
  local p, leader = ep[i], el[i]
  parts[1], parts[2], parts[3] = '0', epoints[i], ereason[i]
  local n = 3
  for j = es0[i], es0[i] + ens[i] - 1 do
    local b, cur = sb[j], scur[j]
    parts[n + 1], parts[n + 2] = bname[b], spts[j]
    if cur then -- numbers: table.concat writes them exactly (|score| < 2^21)
      parts[n + 3], parts[n + 4] = cur, rank[b][leader] or ''

    else
      parts[n + 3], parts[n + 4] = '', ''
    end
    n = n + 4
  end
  local str = concat(parts, '|', 1, n)
  result[i] = str
  if A[p + 1] then
    idem[#idem + 1] = A[p]
    idem[#idem + 1] = str
  end
  log[#log + 1] = 'e'
  log[#log + 1] = A[p + 4]
  log[#log + 1] = 'r'
  log[#log + 1] = str
end
if #idem > 2 then
  call(unpack(idem))
  call('EXPIREAT', KEYS[4], ARGV[2])
end
if #log > 3 then call(unpack(log)) end

-- Answers in request order; duplicates are marked with a leading 1.
local reply = {versions}
for g = 1, ng do
  if out[g] then
    reply[g + 1] = out[g]
  else
    local res = {}
    for i = gfirst[g], gfirst[g] + gn[g] - 1 do
      local r = result[i]
      if r == nil then
        local d = dupof[i]
        r = '1' .. sub(type(d) == 'number' and result[d] or d, 2)
      end
      res[#res + 1] = r
    end
    reply[g + 1] = res
  end
end
return reply
