--[[
leader.lua - one leader's page: profile, standings on several boards, day
states (for streaks), badges, recent events and admin adjustments.

Read-only. KEYS[1] leaders hash, KEYS[2] latest links (leader -> link to
their latest event, see score.lua), KEYS[3] the leader's badges hash,
KEYS[4] the leader's adjustments list (JSON, newest first, adjust.lua),
KEYS[5] to KEYS[4 + nd] (nd = ARGV[2]) the day state hash of each
challenge, then the boards, the leader's digests hash (closer.c) and last
the event log. ARGV[1] leader, ARGV[2] nd, ARGV[3] how many recent events
to return, ARGV[4] how many adjustments, ARGV[5] the org's key prefix
("podium:{org}:"), ARGV[6] how many closed periods of history, then the nd
challenge ids (in the order of the day state hashes).
Recent events are found by following the links in the log: "<entry id> <n>"
is the n-th event of that entry, whose fields are e, r, p per event.
Reply: {profile or false, {score ("" when not on it), rank, ...} per board,
{"event JSON\nresult", ... newest first}, {badge field, value, ...},
{day state or "", ...}, {adjustment JSON, ... newest first}, {digest
field, JSON, ...}, per challenge {period, score ("" when not on its board),
rank, ... newest first}}. History reads the boards of the challenge's
closed periods (close.lua), which share the org's hash tag.
Composite scores are explained in score.lua.
]]

local K = 4294967296
local nd = tonumber(ARGV[2])
local profile = redis.call('HGET', KEYS[1], ARGV[1])
if not profile then return {false} end
local log = KEYS[#KEYS]
local boards = {}
for i = 5 + nd, #KEYS - 2 do
  local z = redis.call('ZSCORE', KEYS[i], ARGV[1])
  if z then
    local s = math.floor(tonumber(z) / K)
    boards[#boards + 1] = string.format('%d', s)
    boards[#boards + 1] = redis.call('ZCOUNT', KEYS[i], string.format('%.17g', (s + 1) * K), '+inf') + 1
  else
    boards[#boards + 1] = ''
    boards[#boards + 1] = 0
  end
end
local days = {}
for i = 1, nd do days[i] = redis.call('HGET', KEYS[4 + i], ARGV[1]) or '' end

local recent, link, sid, fields = {}, redis.call('HGET', KEYS[2], ARGV[1]), nil, nil
while link and link ~= '' and #recent < tonumber(ARGV[3]) do
  local s, n = link:match('^(%S+) (%d+)$')
  if not s then break end
  if s ~= '*' and s ~= sid then -- another entry of the log
    sid = s
    local e = redis.call('XRANGE', log, sid, sid)[1]
    fields = e and e[2]
  end
  n = tonumber(n)
  if not fields or not fields[6 * n] then break end -- trimmed or erased
  recent[#recent + 1] = fields[6 * n - 4] .. '\n' .. fields[6 * n - 2]
  link = fields[6 * n]
end
local history, pfx = {}, ARGV[5]
for i = 1, nd do
  local ch, h = ARGV[6 + i], {}
  for _, per in ipairs(redis.call('ZREVRANGE', pfx .. 'closedp:' .. ch, 0, tonumber(ARGV[6]) - 1)) do
    local board = pfx .. 'board:' .. ch .. ':' .. per
    local z = redis.call('ZSCORE', board, ARGV[1])
    h[#h + 1] = per
    if z then
      local s = math.floor(tonumber(z) / K)
      h[#h + 1] = string.format('%d', s)
      h[#h + 1] = redis.call('ZCOUNT', board, string.format('%.17g', (s + 1) * K), '+inf') + 1
    else
      h[#h + 1] = ''
      h[#h + 1] = 0
    end
  end
  history[i] = h
end
return {profile, boards, recent, redis.call('HGETALL', KEYS[3]), days,
  redis.call('LRANGE', KEYS[4], 0, tonumber(ARGV[4]) - 1),
  redis.call('HGETALL', KEYS[#KEYS - 1]), history}
