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
  - the event and its result appended to the org's event log.

Boards are sorted sets whose score is a composite:
    score * 2^32 + (2^32 - 1 - reached)
where `reached` is the second, counted from the period's start, at which the
leader reached that score. Higher scores rank first; among equal scores the
earlier reacher has the larger composite and is listed first. Composites stay
exact doubles while |score| < 2^21. Competition rank ("1224") is one plus the
number of members whose composite is at least (score + 1) * 2^32.

KEYS[1] leaders hash, KEYS[2] event stream, KEYS[3] board versions hash,
KEYS[4..] boards, cap counters and idempotency keys, referred to by index.
ARGV: now_ms, idempotency ttl (s), n_boards, n_groups,
      per board: key index, name ("challenge:period"),
      per group: n_events, then per event:
        id, idem key index (0 = none), leader, type, at_ms, points,
        channel, stakeholder, url, note, n_standings,
        per standing: board number, points, reached, cap key index (0 = none), cap.
Reply: { {name, version, ...} for boards that changed, then one entry per
group: {"E", event numbers with unknown leaders} or one result string per
event: "dup|points|reasons|name|points|score|rank|name|...". }
]]

local K = 4294967296
local ttl = ARGV[2]
local nb, ng = tonumber(ARGV[3]), tonumber(ARGV[4])
local a = 5

local bkey, bname = {}, {}
for b = 1, nb do
  bkey[b] = KEYS[tonumber(ARGV[a])]
  bname[b] = ARGV[a + 1]
  a = a + 2
end

-- Read the whole call first, so that leaders can be checked in one HMGET.
local groups, names, named = {}, {}, {}
for g = 1, ng do
  local n = tonumber(ARGV[a])
  a = a + 1
  local evs = {}
  for e = 1, n do
    local ev = {
      id = ARGV[a], idem = tonumber(ARGV[a + 1]), leader = ARGV[a + 2],
      type = ARGV[a + 3], at = ARGV[a + 4], points = tonumber(ARGV[a + 5]),
      channel = ARGV[a + 6], stakeholder = ARGV[a + 7], url = ARGV[a + 8],
      note = ARGV[a + 9], std = {}
    }
    local ns = tonumber(ARGV[a + 10])
    a = a + 11
    for s = 1, ns do
      ev.std[s] = {tonumber(ARGV[a]), tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2]),
                   tonumber(ARGV[a + 3]), tonumber(ARGV[a + 4])}
      a = a + 5
    end
    evs[e] = ev
    if not named[ev.leader] then
      named[ev.leader] = true
      names[#names + 1] = ev.leader
    end
  end
  groups[g] = evs
end

local known = {}
if #names > 0 then
  local found = redis.call('HMGET', KEYS[1], unpack(names))
  for i = 1, #names do known[names[i]] = found[i] ~= false end
end

local function num(x) return string.format('%.17g', x) end

local score, reached, dirty, order = {}, {}, {}, {}
-- Current score of a leader on board b, read once per call (nil: not on it).
local function current(b, leader)
  local s = score[b]
  if s == nil then
    s = {}
    score[b], reached[b], dirty[b] = s, {}, {}
  end
  local v = s[leader]
  if v == nil then
    local z = redis.call('ZSCORE', bkey[b], leader)
    v = z and math.floor(tonumber(z) / K) or false
    s[leader] = v
    order[#order + 1] = {b, leader}
  end
  return v
end

local out, seen, pending = {}, {}, {}
for g = 1, ng do
  local evs, bad = groups[g], {'E'}
  for e = 1, #evs do
    if not known[evs[e].leader] then bad[#bad + 1] = e end
  end
  if #bad > 1 then
    out[g] = bad
  else
    local res = {}
    for e = 1, #evs do
      local ev = evs[e]
      local first = nil
      if ev.idem > 0 then
        first = seen[ev.id]
        if first == nil then first = redis.call('GET', KEYS[ev.idem]) end
      end
      if type(first) == 'table' then
        res[e] = first -- a duplicate inside this call: filled in at the end
      elseif first then
        res[e] = '1' .. string.sub(first, 2)
      else
        local capped, std, caps = 0, {}, {}
        for s = 1, #ev.std do
          local st = ev.std[s]
          local b, pts, when, capi, cap = st[1], st[2], st[3], st[4], st[5]
          if capi > 0 then
            local c = caps[capi]
            if c == nil then
              c = redis.call('INCR', KEYS[capi])
              if c == 1 then redis.call('EXPIRE', KEYS[capi], 172800) end
              caps[capi] = c
            end
            if c > cap then
              pts = 0
              capped = capped + 1
            end
          end
          local cur = current(b, ev.leader)
          if pts ~= 0 then
            cur = (cur or 0) + pts
            score[b][ev.leader] = cur
            reached[b][ev.leader] = when
            dirty[b][ev.leader] = true
          end
          std[s] = {b, pts, cur}
        end
        local pts = ev.points
        if capped > 0 and capped == #ev.std then pts = 0 end
        local p = {b = std, points = pts, reasons = capped > 0 and 'daily_cap' or ''}
        pending[#pending + 1] = {ev, p, res, e}
        if ev.idem > 0 then seen[ev.id] = p end
      end
    end
    out[g] = res
  end
end

-- Write the boards once per leader, then work out ranks.
local rank, changed = {}, {}
for i = 1, #order do
  local b, leader = order[i][1], order[i][2]
  local v = score[b][leader]
  if dirty[b][leader] then
    redis.call('ZADD', bkey[b], num(v * K + (K - 1 - reached[b][leader])), leader)
    changed[b] = true
  end
  if v then
    rank[b .. ' ' .. leader] = redis.call('ZCOUNT', bkey[b], num((v + 1) * K), '+inf') + 1
  end
end

local versions = {}
for b = 1, nb do
  if changed[b] then
    versions[#versions + 1] = bname[b]
    versions[#versions + 1] = redis.call('HINCRBY', KEYS[3], bname[b], 1)
  end
end

-- Results of new events: remembered for retries and appended to the log.
for i = 1, #pending do
  local ev, p, res, e = pending[i][1], pending[i][2], pending[i][3], pending[i][4]
  local parts = {'0', tostring(p.points), p.reasons}
  for s = 1, #p.b do
    local b, pts, cur = p.b[s][1], p.b[s][2], p.b[s][3]
    parts[#parts + 1] = bname[b]
    parts[#parts + 1] = tostring(pts)
    parts[#parts + 1] = cur and string.format('%d', cur) or ''
    parts[#parts + 1] = cur and tostring(rank[b .. ' ' .. ev.leader]) or ''
  end
  local r = table.concat(parts, '|')
  res[e] = r
  p.str = r
  if ev.idem > 0 then
    redis.call('SET', KEYS[ev.idem], r, 'EX', ttl)
  end
  local f = {'XADD', KEYS[2], '*', 'id', ev.id, 'leader', ev.leader, 'type', ev.type,
             'at', ev.at, 'result', r}
  if ev.channel ~= '' then f[#f + 1] = 'channel'; f[#f + 1] = ev.channel end
  if ev.stakeholder ~= '' then f[#f + 1] = 'stakeholder'; f[#f + 1] = ev.stakeholder end
  if ev.url ~= '' then f[#f + 1] = 'url'; f[#f + 1] = ev.url end
  if ev.note ~= '' then f[#f + 1] = 'note'; f[#f + 1] = ev.note end
  redis.call(unpack(f))
end

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
