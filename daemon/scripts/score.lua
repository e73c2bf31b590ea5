--[[
score.lua - applies one batch of activity events atomically.

Called with EVALSHA through scoring.c, which documents the rules this
script applies (docs/rules.md explains them to comms teams). The daemon has
already checked the events against the rules and planned them: each event's
points (base x multipliers x campaigns) and, per challenge it counts in, the
boards, the second at which it counts there, and the state keys its limits
and bonuses use. This script does everything that needs shared state, so
that any number of daemons stay correct:
  - leaders must exist (a group with an unknown leader is refused whole);
  - idempotency: an event id seen before returns its first result, marked as
    a duplicate, and changes nothing;
  - limits, in this order: one score per URL per leader (duplicate_url), a
    cooldown between scored events of one type (cooldown), then per challenge
    a daily cap per type in its time zone (daily_cap). A limited event is
    recorded with 0 points there and the reason;
  - bonuses per challenge, for events that scored there: the first scored
    event of the local day, a streak of N consecutive active days (each time
    the streak reaches a multiple of N), and goals (the count-th scored event
    of an activity in a period: bonus and badge, once per period);
  - eligibility by team (the leader's team at the time of the event);
  - leader boards (period and all-time), team boards (sum of points, with the
    number of members who scored) and the board versions;
  - the events and their results appended to the org's event log, one stream
    entry per call with fields repeated per event: "e" event JSON, "r"
    result, "p" a link to the leader's event before it ("<entry id> <n>"
    for the n-th event of that entry, "* <n>" within the same entry, "" for
    none). A hash holds each leader's latest link, so that the leader's
    page walks their recent events without a list written per event.

Cost. Redis runs this on its only thread. The daemon deduplicates in C
every leader, id, state key and board member of a call, so that each read is
one command over a ready-made range of A (HMGET, MGET, ZMSCORE with
unpack(A, i, j)), and a board member is addressed by its slot. Lua turns
numbers into strings slowly, so numbers the daemon knows arrive as text too.

Boards are sorted sets whose score is a composite:
    score * 2^32 + (2^32 - 1 - reached)
where `reached` is the second, counted from the period's start, at which the
leader reached that score. Higher scores rank first; among equal scores the
earlier reacher has the larger composite and is listed first. Composites stay
exact doubles while |score| < 2^21. Competition rank ("1224") is one plus the
number of members whose composite is at least (score + 1) * 2^32.

State kept in "counters", fields of a few hashes (keys.h), each read with
one HMGET and written with one HSET per call: daily cap counts; the `at` of
a leader's last scored event of a type (cooldown); per leader and challenge
"day:mask:streak" (the latest local day with a scored event as a day
number, bit i of mask = active on day - i for i < 31, and the streak of
consecutive active days ending on that day); goal counts per leader,
challenge and period.

KEYS[1] leaders hash (leader -> profile JSON), KEYS[2] event
stream, KEYS[3] board versions, KEYS[4] URL hash ("leader|url key" -> event
id), KEYS[5] latest links (leader -> link), KEYS[6..] idempotency buckets
(the current first), then the org's usage hash (events logged per UTC
week); further keys are referred to by index.
ARGV[1] expire-at of the current bucket (Unix s), ARGV[2] number of
buckets, ARGV[3] "1" for a replay (rescore, dry run: keys are aside, see
scoring.h; no log, links, badges or usage are written), ARGV[5] this
week's field of the usage hash ("w:2026-W49"), ARGV[4] one MessagePack
array A of parts, each a count and entries:
  leaders:  n names;
  ids:      the ids of idempotent events, each once;
  urls:     URL fields, each once;
  counters: per hash: key index, TTL (s, 0 = none), n, n counter numbers,
            n fields;
  boards:   per board: key index, name ("challenge:period"), team board key
            index, team count key index, hidden board key index, team
            filter (",a,b," or ""), m, m member names, m rank flags;
  groups:   n events, the first-of-day bonus, streak days and streak
            bonus of the group's rules, its goals (nd, then per goal:
            count, bonus, id, badge), then per event: id, idempotent,
            leader number, points (text), event JSON, explanation (text), URL
            field or "", cooldown counter (0 = none), cooldown (s), at (Unix
            s, also the second it counts at on all-time boards), badge hash
            key index (0 = none), k challenges (-1: the event falls in a closed
            period, and is accepted only as a retry), per challenge: period board,
            slot, all-time board (0 = none), slot, points (number),
            "name|points" of each board (the second one "" when none), the
            second it counts at on the period board, cap counter, cap, day
            counter (0 = no day bonuses), local day number, g goals, per
            goal: counter, goal number in the group's goals.
Reply: { {name, version, ...} for boards that changed, then one entry per
group: {"E", event numbers with unknown leaders}, {"C", event numbers in
closed periods that are not retries of earlier events (k = -1 below)} or
one result string per event (see scoring.c for its format). }
]]

local K = 4294967296
local KEYS, call, tonumber = KEYS, redis.call, tonumber
local format, concat, floor, abs, sub, find, match, unpack = string.format, table.concat,
  math.floor, math.abs, string.sub, string.find, string.match, unpack
local band, bor, lshift = bit.band, bit.bor, bit.lshift
local nbuckets, replay = tonumber(ARGV[2]), ARGV[3] == '1'
local A = cmsgpack.unpack(ARGV[4])
local a = 1

-- Reads, one command each over a range of A.
local nl = A[a]
local lfirst = a + 1
local meta = nl > 0 and call('HMGET', KEYS[1], unpack(A, lfirst, lfirst + nl - 1)) or {}
a = lfirst + nl

local first = {} -- event id -> result string of an earlier call
local ni = A[a]
if ni > 0 then
  for k = 1, nbuckets do
    local found = call('HMGET', KEYS[5 + k], unpack(A, a + 1, a + ni))
    for i = 1, ni do
      if found[i] and not first[A[a + i]] then first[A[a + i]] = found[i] end
    end
  end
end
a = a + ni + 1

local urlseen = {}
local nu = A[a]
if nu > 0 then
  local found = call('HMGET', KEYS[4], unpack(A, a + 1, a + nu))
  for i = 1, nu do urlseen[A[a + i]] = found[i] and true or false end
end
a = a + nu + 1

-- Counters: fields of a few hashes, one HMGET each. cnt[ci] is the value
-- (false when absent) of counter ci, which lives in field cfield[ci] of hash
-- chash[ci].
local cnt, cdirty, cfield, chash, hkey, httl, hnew = {}, {}, {}, {}, {}, {}, {}
local nh = A[a]
a = a + 1
for h = 1, nh do
  local n = A[a + 2]
  local ids, fields = a + 3, a + 3 + n
  hkey[h], httl[h] = KEYS[A[a]], A[a + 1]
  local found = call('HMGET', hkey[h], unpack(A, fields, fields + n - 1))
  for i = 1, n do
    local ci = A[ids + i - 1]
    cnt[ci], cfield[ci], chash[ci] = found[i] or false, A[fields + i - 1], h
    if not found[i] then hnew[h] = true end -- a new field, maybe a new hash: set its TTL
  end
  a = fields + n
end

-- Boards: score[b][slot] is the member's score, false when not on board b.
local nb = A[a]
a = a + 1
local bkey, bname, bmem, bm, btkey, btcnt, bfilter, bhid = {}, {}, {}, {}, {}, {}, {}, {}

-- Hidden leaders (who opted out: "hidden":true in the profile) keep their
-- scores on each board's hidden twin, out of everybody's ranks and out of
-- team boards, until they are shown again (visibility.lua moves them).
local hidden = {}
for li = 1, nl do
  local m = meta[li]
  if m and find(m, '"hidden":true', 1, true) then hidden[A[lfirst + li - 1]] = true end
end
local score, reached, dirty, tadd, tnew = {}, {}, {}, {}, {}
for b = 1, nb do
  local m = A[a + 6]
  bkey[b], bname[b], btkey[b], btcnt[b], bhid[b] = KEYS[A[a]], A[a + 1], A[a + 2], A[a + 3], KEYS[A[a + 4]]
  bfilter[b], bmem[b], bm[b] = A[a + 5], a + 7, m
  local s, found = {}, call('ZMSCORE', KEYS[A[a]], unpack(A, a + 7, a + 6 + m))
  for i = 1, m do
    local name = A[a + 6 + i]
    if hidden[name] then -- a hidden leader's standing is on the hidden board
      found[i] = call('ZSCORE', bhid[b], name)
    end
    s[i] = found[i] and floor(tonumber(found[i]) / K) or false
  end
  score[b], reached[b], dirty[b], tadd[b], tnew[b] = s, {}, {}, {}, {}
  a = a + 7 + 2 * m
end

-- The team in a leader's profile (JSON written by http_admin.c, compact,
-- with ids that need no escaping), "" when none; looked up once per leader.
local teams = {}
local function team_of(li)
  local t = teams[li]
  if t == nil then
    local m = meta[li]
    local i = find(m, '"team":"', 1, true)
    t = i and match(m, '^[^"]*', i + 8) or ''
    teams[li] = t
  end
  return t
end

-- The day state of a counter, parsed once per call: {day, mask, streak}.
local days = {}
local function day_state(ci)
  local d = days[ci]
  if d == nil then
    local v = cnt[ci]
    if v then
      local x, y, z = v:match('^(%d+):(%d+):(%d+)$')
      d = {tonumber(x), tonumber(y), tonumber(z)}
    else
      d = false
    end
    days[ci] = d
  end
  return d
end

-- Marks local day e active; returns first-of-day and the streak bonus due.
local function activate(ci, e, sdays)
  local d = day_state(ci)
  local firstday, streakdue = false, false
  if not d then
    d = {e, 1, 1}
    days[ci] = d
    firstday = true
    streakdue = sdays > 0 and 1 % sdays == 0
  elseif e > d[1] then
    local shift = e - d[1]
    d[2] = shift >= 31 and 1 or band(bor(lshift(d[2], shift), 1), 0x7fffffff)
    d[3] = shift == 1 and d[3] + 1 or 1
    d[1] = e
    firstday = true
    streakdue = sdays > 0 and d[3] % sdays == 0
  elseif e < d[1] and d[1] - e < 31 then -- a late event for an earlier day
    local bitv = lshift(1, d[1] - e)
    firstday = band(d[2], bitv) == 0
    d[2] = bor(d[2], bitv)
  end
  if firstday then
    cnt[ci] = d[1] .. ':' .. d[2] .. ':' .. d[3]
    cdirty[ci] = true
  end
  return firstday, streakdue
end

-- Work out every event in memory, walking the groups. A new event leaves
-- epoints/ereason and, per standing j, sb/ss (board, slot), spfx (result
-- prefix: "name|points"), snote (its notes) and scur (score after it).
local ng = A[a]
a = a + 1
local out, seen, fresh, result = {}, {}, {}, {}
local ep, epoints, ereason, es0, ens, dupof = {}, {}, {}, {}, {}, {}
local sb, ss, spfx, snote, scur, capev = {}, {}, {}, {}, {}, {}
local badges = {}
local ne, ns = 0, 0

-- Adds pts to a leader's standing on board b (slot), and to the team board.
local function apply(b, slot, pts, when, li, pfx, note)
  local s = score[b]
  local cur = s[slot]
  if pts ~= 0 then
    if btkey[b] > 0 and not hidden[A[lfirst + li - 1]] then
      local team = team_of(li)
      if team ~= '' then
        if not cur then tnew[b][team] = (tnew[b][team] or 0) + 1 end
        tadd[b][team] = (tadd[b][team] or 0) + pts
      end
    end
    cur = (cur or 0) + pts
    s[slot] = cur
    reached[b][slot] = when
    dirty[b][slot] = true
  end
  ns = ns + 1
  sb[ns], ss[ns], spfx[ns], snote[ns], scur[ns] = b, slot, pfx, note, cur
end

for g = 1, ng do
  local n, gfod, gsdays, gspts, nd = A[a], A[a + 1], A[a + 2], A[a + 3], A[a + 4]
  local gdef = a + 5 -- goal d's count, bonus, id, badge are A[gdef + 4 * (d - 1) ...]
  a = gdef + 4 * nd
  local gstart, bad, closed = a, nil, nil
  for i = 1, n do -- unknown leaders, or new events in closed periods, refuse the group whole
    if not meta[A[a + 2]] then
      bad = bad or {'E'}
      bad[#bad + 1] = i
    end
    local k = A[a + 11]
    if k < 0 and not (A[a + 1] and first[A[a]]) then -- only a retry may be late
      closed = closed or {'C'}
      closed[#closed + 1] = i
    end
    a = a + 12
    for _ = 1, k do a = a + 13 + 2 * A[a + 12] end
  end
  bad = bad or closed
  if bad then
    out[g] = bad
  else
    a = gstart
    out[g] = {ne + 1, n}
    for _ = 1, n do
      ne = ne + 1
      local i = ne
      local id, idem, li, k = A[a], A[a + 1], A[a + 2], A[a + 11]
      ep[i] = a
      local prior = idem and (seen[id] or first[id])
      if prior then
        dupof[i] = prior -- an event number of this call, or an earlier result
        a = a + 12
        for _ = 1, k do a = a + 13 + 2 * A[a + 12] end
      else
        local url, cdci, at = A[a + 6], A[a + 7], A[a + 9]
        local limit
        if url ~= '' and urlseen[url] then
          limit = 'duplicate_url'
        elseif cdci > 0 and cnt[cdci] and abs(at - tonumber(cnt[cdci])) < A[a + 8] then
          limit = 'cooldown'
        end
        local team, badgeci = nil, A[a + 10]
        local capped, nch, scored, reasons = 0, 0, false, limit
        a = a + 12
        es0[i] = ns + 1
        for _ = 1, k do
          local b1, b2, ngoals = A[a], A[a + 2], A[a + 12]
          local filter = bfilter[b1]
          if filter ~= '' then
            team = team or team_of(li)
            if team == '' or not find(filter, ',' .. team .. ',', 1, true) then
              b1 = nil -- not eligible: no standing in this challenge
            end
          end
          if b1 then
            nch = nch + 1
            local pts, pfx1, pfx2, note = A[a + 4], A[a + 5], A[a + 6], ''
            local ci = A[a + 8]
            if limit then
              pts, note = 0, limit
            elseif ci > 0 then
              if capev[ci] ~= i then -- one count per event, whichever boards share it
                capev[ci] = i
                cnt[ci] = (tonumber(cnt[ci]) or 0) + 1
                cdirty[ci] = true
              end
              if cnt[ci] > A[a + 9] then
                pts, note = 0, 'daily_cap'
                capped = capped + 1
                if not reasons then reasons = 'daily_cap' end
              end
            end
            if note == '' then
              scored = true
              local bonus, notes = 0, nil
              local dci = A[a + 10]
              if dci > 0 then
                local firstday, streakdue = activate(dci, A[a + 11], gsdays)
                if firstday and gfod ~= 0 then
                  bonus = bonus + gfod
                  notes = {'first_of_day:' .. gfod}
                end
                if streakdue and gspts ~= 0 then
                  bonus = bonus + gspts
                  notes = notes or {}
                  notes[#notes + 1] = 'streak:' .. gspts .. ':' .. days[dci][3]
                end
              end
              local q = a + 13
              for _ = 1, ngoals do
                local gci, d = A[q], gdef + 4 * (A[q + 1] - 1)
                local c = (tonumber(cnt[gci]) or 0) + 1
                cnt[gci], cdirty[gci] = c, true
                if c == A[d] then
                  bonus = bonus + A[d + 1]
                  notes = notes or {}
                  notes[#notes + 1] = 'goal:' .. A[d + 2] .. ':' .. A[d + 1]
                  if badgeci > 0 then
                    badges[#badges + 1] = {badgeci, bname[b1] .. ':' .. A[d + 2], A[d + 3] .. '|' .. at}
                  end
                end
                q = q + 2
              end
              if bonus ~= 0 then
                pts = pts + bonus
                local ptext = format('%d', pts)
                pfx1, pfx2 = bname[b1] .. '|' .. ptext, b2 > 0 and bname[b2] .. '|' .. ptext
              end
              if notes then note = concat(notes, ',') end
            else
              pfx1, pfx2 = bname[b1] .. '|0', b2 > 0 and bname[b2] .. '|0'
            end
            apply(b1, A[a + 1], pts, A[a + 7], li, pfx1, note)
            if b2 > 0 then apply(b2, A[a + 3], pts, at, li, pfx2, note) end
          end
          a = a + 13 + 2 * ngoals
        end
        ens[i] = ns - es0[i] + 1
        if scored then
          if url ~= '' then urlseen[url] = id end
          if cdci > 0 then
            local last = tonumber(cnt[cdci])
            if not last or at > last then cnt[cdci], cdirty[cdci] = at, true end
          end
        end
        if limit or (capped > 0 and capped == nch) then
          epoints[i] = '0'
        else
          epoints[i] = A[ep[i] + 3]
        end
        ereason[i] = reasons or ''
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
  local z, zh = {'ZADD', key}, {'ZADD', bhid[b]}
  for slot in pairs(d) do
    local name = A[mem + slot - 1]
    local w = hidden[name] and zh or z
    w[#w + 1] = format('%d', s[slot] * K + (K - 1 - rb[slot]))
    w[#w + 1] = name
  end
  if #zh > 2 then call(unpack(zh)) end
  if #z > 2 then
    call(unpack(z))
    versions[#versions + 1] = bname[b]
    versions[#versions + 1] = call('HINCRBY', KEYS[3], bname[b], 1)
  end
  for team, pts in pairs(tadd[b]) do call('ZINCRBY', KEYS[btkey[b]], pts, team) end
  for team, n in pairs(tnew[b]) do
    call('ZINCRBY', KEYS[btkey[b]], 0, team)
    call('HINCRBY', KEYS[btcnt[b]], team, n)
  end
  local r, flags = {}, mem + bm[b] - 1
  for slot = 1, bm[b] do
    local v = s[slot]
    if v and A[flags + slot] and not hidden[A[mem + slot - 1]] then
      r[slot] = call('ZCOUNT', key, format('%d', (v + 1) * K), '+inf') + 1
    end
  end
  rank[b] = r
end

local hw = {}
for ci in pairs(cdirty) do
  local h = chash[ci]
  local w = hw[h]
  if w == nil then
    w = {'HSET', hkey[h]}
    hw[h] = w
  end
  w[#w + 1] = cfield[ci]
  w[#w + 1] = cnt[ci]
end
for h, w in pairs(hw) do
  call(unpack(w))
  if httl[h] > 0 and hnew[h] then call('EXPIRE', hkey[h], httl[h]) end
end
local urlw = {'HSET', KEYS[4]}
for u, v in pairs(urlseen) do
  if v and v ~= true then
    urlw[#urlw + 1] = u
    urlw[#urlw + 1] = v
  end
end
if #urlw > 2 then call(unpack(urlw)) end

-- A replay (rescore, dry run) wants the boards only: no badges, results or log.
if replay then return {versions} end

for _, bg in ipairs(badges) do
  call('HSET', KEYS[bg[1]], bg[2], bg[3])
end

-- Results of new events: remembered for retries, and appended to the log
-- with links between each leader's events.
local idem, log, parts, inlog = {'HSET', KEYS[6]}, {'XADD', KEYS[2], '*'}, {'0'}, {}
local lastlink = #fresh > 0 and call('HMGET', KEYS[5], unpack(A, lfirst, lfirst + nl - 1)) or {}
for f = 1, #fresh do
  local i = fresh[f]
  local p = ep[i]
  parts[2], parts[3], parts[4] = epoints[i], ereason[i], A[p + 5]
  local n = 4
  for j = es0[i], es0[i] + ens[i] - 1 do
    local cur = scur[j]
    parts[n + 1] = spfx[j]
    if cur then -- numbers: table.concat writes them exactly (|score| < 2^21)
      parts[n + 2], parts[n + 3] = cur, rank[sb[j]][ss[j]] or ''
    else
      parts[n + 2], parts[n + 3] = '', ''
    end
    parts[n + 4] = snote[j]
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
  local li = A[p + 2]
  local before = inlog[li]
  log[#log + 1] = 'p'
  log[#log + 1] = before and '* ' .. before or lastlink[li] or ''
  inlog[li] = f
end
if #idem > 2 then
  call(unpack(idem))
  call('EXPIREAT', KEYS[6], ARGV[1])
end
if #log > 3 then
  local sid = call(unpack(log)) .. ' '
  local links = {'HSET', KEYS[5]}
  for li, f in pairs(inlog) do
    links[#links + 1] = A[lfirst + li - 1]
    links[#links + 1] = sid .. f
  end
  call(unpack(links))
  call('HINCRBY', KEYS[6 + nbuckets], ARGV[5], #fresh)
end

-- Answers in request order; duplicates are marked with a leading 1.
local reply = {versions}
for g = 1, ng do
  local o = out[g]
  if o[1] == 'E' or o[1] == 'C' then
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
