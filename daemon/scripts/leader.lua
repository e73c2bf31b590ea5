--[[
leader.lua - one leader's profile and standing on several boards.

Read-only. KEYS[1] leaders hash, KEYS[2..] boards. ARGV[1] leader.
Reply: {profile or false, then per board: score ("" when not on it), rank}.
Composite scores are explained in score.lua.
]]

local K = 4294967296
local out = {redis.call('HGET', KEYS[1], ARGV[1])}
for i = 2, #KEYS do
  local z = redis.call('ZSCORE', KEYS[i], ARGV[1])
  if z then
    local s = math.floor(tonumber(z) / K)
    out[#out + 1] = string.format('%d', s)
    out[#out + 1] = redis.call('ZCOUNT', KEYS[i], string.format('%.17g', (s + 1) * K), '+inf') + 1
  else
    out[#out + 1] = ''
    out[#out + 1] = 0
  end
end
return out
