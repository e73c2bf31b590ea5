--[[
score.lua - applies one batch of activity events atomically.

Called by ingest.c with EVALSHA. The daemon has already validated the
events against the rules and planned them: each event's points and, per
board it counts on, the points there and the second at which it counts;
it has also listed, once each, the leaders, event ids, cap counters and
board members the call touches. This script does everything that needs
shared state, so that any number of daemons stay correct:
  - leaders must exist (a group with an unknown leader is refused whole);
  - idempotency: an event id seen before returns its first result, marked as
    a duplicate, and changes nothing;
  - per-type daily caps, one counter per leader, type, challenge and local
    day (a challenge's period board and all-time board share it);
  - board scores, where equal scores keep the order in which they were reached;
  - the events and their results appended to the org's event log, one
    stream entry per call: fields "e" (the event as JSON) and "r" (its
    result string), repeated per event in order.

Cost. Redis runs this script on its only thread, so every microsecond here
is one that no other client gets. The daemon does all the planning it can
in C: it deduplicates the leaders, ids, cap counters and board members, so
that each read is one command over a ready-made range of the argument
(HMGET, MGET, ZMSCORE with unpack(A, i, j)), and a board member is addressed
by its slot in its board's list. What remains here is one pass over the
events, one ZADD and one HINCRBY per changed board, one ZCOUNT per rank
asked for, and one HSET and one XADD for all results. Lua turns numbers into
strings slowly, so every number the daemon already knows arrives as text.

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
ARGV[1] expire-at of the current bucket (Unix s), ARGV[2] number of buckets,
ARGV[3] one MessagePack array A, so that numbers arrive as numbers and Redis
parses one argument instead of thousands. Its parts, each a count then
that many entries:
  leaders:  names;
  ids:      the ids of events sent with one (idempotent), each once;
  caps:     cap counter key indices;
  boards:   key index, name ("challenge:period"), m, m member names,
            m rank flags (true: some request wants the member's rank);
  groups:   n events, per event: id, idempotent (bool), leader number,
            points (text), event JSON, k standings, per standing: board
            number, member slot, points (number), "name|points" (text),
            reached, cap key index (0 = none), cap.
Reply: { {name, version, ...} for boards that changed, then one entry per
group: {"E", event numbers with unknown leaders} or one result string per
event: "dup|points|reasons|name|points|score|rank|name|...". }
]]

local K = 4294967296
local KEYS, call, tonumber = KEYS, redis.call, tonumber
local format, concat, floor, sub, unpack = string.format, table.concat, math.floor, string.sub, unpack
local nbuckets = tonumber(ARGV[2])
local A = cmsgpack.unpack(ARGV[3])
local a = 1

-- Reads, one command each over a range of A.
local nl = A[a]
local lfirst = a + 1
local known = nl > 0 and call('HMGET', KEYS[1], unpack(A, lfirst, lfirst + nl - 1)) or {}
a = lfirst + nl

local first = {} -- event id -> result string of an earlier call
local ni = A[a]
if ni > 0 then
  for k = 1, nbuckets do
    local found = call('HMGET', KEYS[3 + k], unpack(A, a + 1, a + ni))
    for i = 1, ni do
      if found[i] and not first[A[a + i]] then first[A[a + i]] = found[i] end
    end
  end
end
a = a + ni + 1

local capv, capdirty = {}, {}
local nc = A[a]
if nc > 0 then
  local ck = {}
  for i = 1, nc do ck[i] = KEYS[A[a + i]] end
  local found = call('MGET', unpack(ck))
  for i = 1, nc do capv[A[a + i]] = tonumber(found[i] or '0') end
end
a = a + nc + 1

-- Boards: score[b][slot] is the member's score, false when not on board b.
local nb = A[a]
a = a + 1
local bkey, bname, bmem, bm, score, reached, dirty = {}, {}, {}, {}, {}, {}, {}
for b = 1, nb do
  local m = A[a + 2]
  bkey[b], bname[b], bmem[b], bm[b] = KEYS[A[a]], A[a + 1], a + 3, m
  local s, found = {}, call('ZMSCORE', KEYS[A[a]], unpack(A, a + 3, a + 2 + m))
  for i = 1, m do s[i] = found[i] and floor(tonumber(found[i]) / K) or false end
  score[b], reached[b], dirty[b] = s, {}, {}
  a = a + 3 + 2 * m
end

-- Work out every event in memory, walking the groups. A new event leaves
-- epoints/ereason and, per standing j, sb/ss (board, slot), spfx (result
-- prefix) and scur (score after it).
local ng = A[a]
a = a + 1
local out, seen, fresh, result = {}, {}, {}, {}
local ep, epoints, ereason, es0, ens, dupof = {}, {}, {}, {}, {}, {}
local sb, ss, spfx, scur, capev = {}, {}, {}, {}, {}
local ne, ns = 0, 0
for g = 1, ng do
  local n = A[a]
  a = a + 1
  local gstart, bad = a, nil
  for i = 1, n do -- unknown leaders refuse the group whole
    if not known[A[a + 2]] then
      bad = bad or {'E'}
      bad[#bad + 1] = i
    end
    a = a + 6 + 7 * A[a + 5]
  end
  if bad then
    out[g] = bad
  else
    a = gstart
    out[g] = {ne + 1, n}
    for _ = 1, n do
      ne = ne + 1
      local i = ne
      local id, idem, li, k = A[a], A[a + 1], A[a + 2], A[a + 5]
      ep[i] = a
      local prior = idem and (seen[id] or first[id])
      a = a + 6
      if prior then
        dupof[i] = prior -- an event number of this call, or an earlier result
        a = a + 7 * k
      else
        local capped = 0
        es0[i], ens[i] = ns + 1, k
        for _ = 1, k do
          local b, slot, pts, pfx, when, ci = A[a], A[a + 1], A[a + 2], A[a + 3], A[a + 4], A[a + 5]
          if ci > 0 then
            if capev[ci] ~= i then -- one count per event, whichever boards share it
              capev[ci] = i
              capv[ci] = capv[ci] + 1
              capdirty[ci] = true
            end
            if capv[ci] > A[a + 6] then
              pts = 0
              capped = capped + 1
              pfx = bname[b] .. '|0'
            end
          end
          local s = score[b]
          local cur = s[slot]
          if pts ~= 0 then
            cur = (cur or 0) + pts
            s[slot] = cur
            reached[b][slot] = when
            dirty[b][slot] = true
          end
          ns = ns + 1
          sb[ns], ss[ns], spfx[ns], scur[ns] = b, slot, pfx, cur
          a = a + 7
        end
        if capped > 0 then
          epoints[i] = capped == k and '0' or A[ep[i] + 3]
          ereason[i] = 'daily_cap'
        else
          epoints[i], ereason[i] = A[ep[i] + 3], ''
        end
        fresh[#fresh + 1] = i
        if idem then seen[id] = i end
      end
    end
  end
end

-- Write each board once, then rank the members whose requests want ranks
-- (a client that sends "Prefer: return=minimal" does not).
local rank, versions = {}, {}
for b = 1, nb do
  local s, d, rb, mem, key = score[b], dirty[b], reached[b], bmem[b], bkey[b]
  local z = {'ZADD', key}
  for slot in pairs(d) do
    z[#z + 1] = format('%d', s[slot] * K + (K - 1 - rb[slot]))
    z[#z + 1] = A[mem + slot - 1]
  end
  if #z > 2 then
    call(unpack(z))
    versions[#versions + 1] = bname[b]
    versions[#versions + 1] = call('HINCRBY', KEYS[3], bname[b], 1)
  end
  local r, flags = {}, mem + bm[b] - 1
  for slot = 1, bm[b] do
    local v = s[slot]
    if v and A[flags + slot] then
      r[slot] = call('ZCOUNT', key, format('%d', (v + 1) * K), '+inf') + 1
    end
  end
  rank[b] = r
end

for ci in pairs(capdirty) do
  call('SET', KEYS[ci], capv[ci], 'EX', 172800)
end

-- Results of new events: remembered for retries and appended to the log.
local idem, log, parts = {'HSET', KEYS[4]}, {'XADD', KEYS[2], '*'}, {'0'}
for f = 1, #fresh do
  local i = fresh[f]
  local p = ep[i]
  parts[2], parts[3] = epoints[i], ereason[i]
  local n = 3
  for j = es0[i], es0[i] + ens[i] - 1 do
    local cur = scur[j]
    parts[n + 1] = spfx[j]
    if cur then -- numbers: table.concat writes them exactly (|score| < 2^21)
      parts[n + 2], parts[n + 3] = cur, rank[sb[j]][ss[j]] or ''
    else
      parts[n + 2], parts[n + 3] = '', ''
    end
    n = n + 3
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
  call('EXPIREAT', KEYS[4], ARGV[1])
end
if #log > 3 then call(unpack(log)) end

-- Answers in request order; duplicates are marked with a leading 1.
local reply = {versions}
for g = 1, ng do
  local o = out[g]
  if o[1] == 'E' then
    reply[g + 1] = o
  else
    local res = {}
    for i = o[1], o[1] + o[2] - 1 do
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
