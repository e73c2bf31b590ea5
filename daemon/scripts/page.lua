--[[
page.lua - one page of a board, or the part of it around one leader.

Read-only. Returns what the read cache renders: the board's version, its
size, the competition rank of the first entry, and per entry the leader id,
score, profile JSON and rank on the previous period's board (for movement).
Composite scores are explained in score.lua.

KEYS[1] board, KEYS[2] leaders hash, KEYS[3] board versions hash,
KEYS[4] previous period's board (may be the same name as KEYS[1] when there
is none, in which case ARGV[5] is "0").
ARGV[1] board name, ARGV[2] offset, ARGV[3] limit,
ARGV[4] leader ("" for a plain page: otherwise the page is the `limit`
entries on each side of that leader and ARGV[2] is ignored),
ARGV[5] "1" when KEYS[4] is a real previous board.
Reply: {version, size, offset, first_rank, id, score, profile, prev_rank, ...}
with prev_rank -1 when the leader was not on the previous board; offset -1
when the leader asked for is not on the board.
]]

local K = 4294967296
local version = redis.call('HGET', KEYS[3], ARGV[1]) or '0'
local size = redis.call('ZCARD', KEYS[1])
local off, lim = tonumber(ARGV[2]), tonumber(ARGV[3])
if ARGV[4] ~= '' then
  local pos = redis.call('ZREVRANK', KEYS[1], ARGV[4])
  if not pos then return {version, size, -1, 0} end
  off = math.max(0, pos - lim)
  lim = pos - off + lim + 1
end

local r = redis.call('ZREVRANGE', KEYS[1], off, off + lim - 1, 'WITHSCORES')
local out = {version, size, off, 1}
if #r == 0 then return out end

local function num(x) return string.format('%.17g', x) end
local function rank_of(key, composite)
  local s = math.floor(tonumber(composite) / K)
  return redis.call('ZCOUNT', key, num((s + 1) * K), '+inf') + 1, s
end

if off > 0 then out[4] = rank_of(KEYS[1], r[2]) end
local ids = {}
for i = 1, #r, 2 do ids[#ids + 1] = r[i] end
local profiles = redis.call('HMGET', KEYS[2], unpack(ids))
for i = 1, #ids do
  local s = math.floor(tonumber(r[2 * i]) / K)
  local prev = -1
  if ARGV[5] == '1' then
    local z = redis.call('ZSCORE', KEYS[4], ids[i])
    if z then prev = rank_of(KEYS[4], z) end
  end
  out[#out + 1] = ids[i]
  out[#out + 1] = string.format('%d', s)
  out[#out + 1] = profiles[i] or ''
  out[#out + 1] = prev
end
return out
