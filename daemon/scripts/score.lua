--[[
score.lua - applies one batch of activity events atomically.

Called by ingest.c with EVALSHA. The daemon has already validated the
events against the rules and worked out, for each event, its base points and
the boards (challenge periods) it counts in; this script does everything that
needs shared state, so that any number of daemons stay correct:
  - leaders must exist (a group with an unknown leader is refused whole);
  - idempotency: an event id seen before returns its first result, marked as
    a duplicate, and changes nothing;
  - per-type daily caps, one counter per leader, type and local day;
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

Idempotency records live in one hash per UTC day of arrival (field: event id,
value: its result string), expiring `ttl` seconds after that day ends; a
lookup asks every bucket that can still hold a record.

KEYS[1] leaders hash, KEYS[2] event stream, KEYS[3] board versions hash,
KEYS[4..] idempotency buckets (today's first), boards and cap counters,
referred to by index.
ARGV: now_ms, expire-at of today's bucket (Unix s), n_buckets, n_boards,
      n_groups, per board: key index, name ("challenge:period"),
      per group: n_events, then per event:
        id, idempotent (1/0), leader, points, event JSON, n_standings,
        per standing: board number, points, reached, cap key index (0 = none), cap.
Reply: { {name, version, ...} for boards that changed, then one entry per
group: {"E", event numbers with unknown leaders} or one result string per
event: "dup|points|reasons|name|points|score|rank|name|...". }
]]

local K = 4294967296
local call = redis.call
local nbuckets, nb, ng = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local a = 6
local function num(x) return string.format('%.17g', x) end

local bkey, bname = {}, {}
for b = 1, nb do
  bkey[b] = KEYS[tonumber(ARGV[a])]
  bname[b] = ARGV[a + 1]
  a = a + 2
end

-- Read the whole call first: events stay as ARGV offsets.
local groups, names, named, ids, capkeys, capseen = {}, {}, {}, {}, {}, {}
for g = 1, ng do
  local n = tonumber(ARGV[a])
  a = a + 1
  local evs = {}
  for e = 1, n do
    evs[e] = a
    local leader = ARGV[a + 2]
    if not named[leader] then
      named[leader] = true
      names[#names + 1] = leader
    end
    if ARGV[a + 1] == '1' then ids[#ids + 1] = ARGV[a] end
    local ns = tonumber(ARGV[a + 5])
    a = a + 6
    for s = 1, ns do
      local ci = tonumber(ARGV[a + 3])
      if ci > 0 and not capseen[ci] then
        capseen[ci] = true
        capkeys[#capkeys + 1] = ci
      end
      a = a + 5
    end
  end
  groups[g] = evs
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

-- Work out every event in memory. score[b][leader] is false when the leader
-- is not on board b; the first use of a board fetches its leaders at once.
local score, reached, dirty, touched = {}, {}, {}, {}
local function board(b)
  local s = score[b]
  if s == nil then
    s = {}
    score[b], reached[b], dirty[b], touched[b] = s, {}, {}, {}
  end
  return s
end

local out, seen, pending, want = {}, {}, {}, {}
-- Collect, per board, the leaders whose current score is needed.
for g = 1, ng do
  local evs = groups[g]
  for e = 1, #evs do
    local p = evs[e]
    local ns = tonumber(ARGV[p + 5])
    for s = 1, ns do
      local b = tonumber(ARGV[p + 6 + 5 * (s - 1)])
      local w = want[b]
      if w == nil then w = {list = {}, set = {}}; want[b] = w end
      local leader = ARGV[p + 2]
      if not w.set[leader] then
        w.set[leader] = true
        w.list[#w.list + 1] = leader
      end
    end
  end
end
for b, w in pairs(want) do
  local s = board(b)
  local found = call('ZMSCORE', bkey[b], unpack(w.list))
  for i = 1, #w.list do
    s[w.list[i]] = found[i] and math.floor(tonumber(found[i]) / K) or false
  end
end

for g = 1, ng do
  local evs, bad = groups[g], {'E'}
  for e = 1, #evs do
    if not known[ARGV[evs[e] + 2]] then bad[#bad + 1] = e end
  end
  if #bad > 1 then
    out[g] = bad
  else
    local res = {}
    for e = 1, #evs do
      local p = evs[e]
      local id, leader = ARGV[p], ARGV[p + 2]
      local idem = ARGV[p + 1] == '1'
      local prior = idem and (seen[id] or first[id])
      if type(prior) == 'table' then
        res[e] = prior -- a duplicate inside this call: filled in at the end
      elseif prior then
        res[e] = '1' .. string.sub(prior, 2)
      else
        local capped, std, caps = 0, {}, {}
        local ns = tonumber(ARGV[p + 5])
        for s = 1, ns do
          local q = p + 6 + 5 * (s - 1)
          local b, pts, when = tonumber(ARGV[q]), tonumber(ARGV[q + 1]), tonumber(ARGV[q + 2])
          local ci = tonumber(ARGV[q + 3])
          if ci > 0 then
            if not caps[ci] then
              caps[ci] = true
              capv[ci] = capv[ci] + 1
              capdirty[ci] = true
            end
            if capv[ci] > tonumber(ARGV[q + 4]) then
              pts = 0
              capped = capped + 1
            end
          end
          local sb = board(b)
          local cur = sb[leader]
          if pts ~= 0 then
            cur = (cur or 0) + pts
            sb[leader] = cur
            reached[b][leader] = when
            dirty[b][leader] = true
          end
          touched[b][leader] = true
          std[s] = {b, pts, cur}
        end
        local pts = tonumber(ARGV[p + 3])
        if capped > 0 and capped == ns then pts = 0 end
        local r = {p = p, b = std, points = pts, reasons = capped > 0 and 'daily_cap' or ''}
        pending[#pending + 1] = {r, res, e}
        if idem then seen[id] = r end
      end
    end
    out[g] = res
  end
end

-- Write each board once, then rank every leader it touched.
local rank, versions = {}, {}
for b = 1, nb do
  local s = score[b]
  if s then
    local z = {'ZADD', bkey[b]}
    for leader in pairs(dirty[b]) do
      z[#z + 1] = num(s[leader] * K + (K - 1 - reached[b][leader]))
      z[#z + 1] = leader
    end
    if #z > 2 then
      call(unpack(z))
      versions[#versions + 1] = bname[b]
      versions[#versions + 1] = call('HINCRBY', KEYS[3], bname[b], 1)
    end
    local r = {}
    for leader in pairs(touched[b]) do
      local v = s[leader]
      if v then r[leader] = call('ZCOUNT', bkey[b], num((v + 1) * K), '+inf') + 1 end
    end
    rank[b] = r
  end
end

for ci in pairs(capdirty) do
  call('SET', KEYS[ci], capv[ci], 'EX', 172800)
end

-- Results of new events: remembered for retries and appended to the log.
local idem, log = {'HSET', KEYS[4]}, {'XADD', KEYS[2], '*'}
for i = 1, #pending do
  local r, res, e = pending[i][1], pending[i][2], pending[i][3]
  local p = r.p
  local leader = ARGV[p + 2]
  local parts = {'0', r.points, r.reasons}
  for s = 1, #r.b do
    local b, pts, cur = r.b[s][1], r.b[s][2], r.b[s][3]
    parts[#parts + 1] = bname[b]
    parts[#parts + 1] = pts
    parts[#parts + 1] = cur and string.format('%d', cur) or ''
    parts[#parts + 1] = cur and rank[b][leader] or ''
  end
  local str = table.concat(parts, '|')
  res[e] = str
  r.str = str
  if ARGV[p + 1] == '1' then
    idem[#idem + 1] = ARGV[p]
    idem[#idem + 1] = str
  end
  log[#log + 1] = 'e'
  log[#log + 1] = ARGV[p + 4]
  log[#log + 1] = 'r'
  log[#log + 1] = str
end
if #idem > 2 then
  call(unpack(idem))
  call('EXPIREAT', KEYS[4], ARGV[2])
end
if #log > 3 then call(unpack(log)) end

-- Duplicates inside this very call point at a result made above.
for g = 1, ng do
  local res = out[g]
  if res[1] ~= 'E' then
    for e = 1, #res do
      if type(res[e]) == 'table' then res[e] = '1' .. string.sub(res[e].str, 2) end
    end
  end
end

table.insert(out, 1, versions)
return out
