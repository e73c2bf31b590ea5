--[[
leader.lua - one leader's page: profile, standings on several boards, day
states (for streaks), badges and recent events.

Read-only. KEYS[1] leaders hash, KEYS[2] the leader's recent events list,
KEYS[3] their badges hash, KEYS[4] to KEYS[3 + nd] (nd = ARGV[2]) the day
state hash of each challenge (see score.lua), then the boards. ARGV[1] leader, ARGV[2] number
of day-state keys.
KEYS[#KEYS] is the event log: a recent entry is "<stream entry id> <n>",
the n-th event of that entry (see score.lua), read here with XRANGE.
Reply: {profile or false, {score ("" when not on it), rank, ...} per board,
{"event JSON\nresult", ... newest first}, {badge field, value, ...},
{day state or "", ...}}.
Composite scores are explained in score.lua.
]]

local K = 4294967296
local nd = tonumber(ARGV[2])
local profile = redis.call('HGET', KEYS[1], ARGV[1])
if not profile then return {false} end
local boards = {}
for i = 4 + nd, #KEYS - 1 do
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
for i = 1, nd do days[i] = redis.call('HGET', KEYS[3 + i], ARGV[1]) or '' end
local recent = {}
for _, ref in ipairs(redis.call('LRANGE', KEYS[2], 0, 19)) do
  local sid, n = ref:match('^(%S+) (%d+)$')
  local e = sid and redis.call('XRANGE', KEYS[#KEYS], sid, sid)[1]
  local f = e and e[2]
  n = tonumber(n)
  if f and f[4 * n] then -- fields: e, event, r, result, e, ...
    recent[#recent + 1] = f[4 * n - 2] .. '\n' .. f[4 * n]
  end
end
return {profile, boards, recent, redis.call('HGETALL', KEYS[3]), days}
