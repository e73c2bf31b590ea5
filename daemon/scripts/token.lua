--[[
token.lua - creates or deletes an API token, both of its entries at once.

A token is kept twice: by the SHA-256 of its secret (what a request is
checked against) and by its id (what an admin deletes it by). Doing both in
one script means no half-made or half-deleted token is ever left behind.

KEYS[1] tokens hash (SHA-256 hex -> "id role leader"),
KEYS[2] token ids hash (id -> SHA-256 hex).
ARGV "create", sha, value, id[, most] -> 1, or -1 when the org has `most`
                                        tokens already (its quota; 0 or none:
                                        no limit)
ARGV "delete", id                     -> the deleted token's sha, or nil if none
]]

if ARGV[1] == 'create' then
  local most = tonumber(ARGV[5] or '0')
  if most > 0 and redis.call('HLEN', KEYS[1]) >= most then return -1 end
  redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
  redis.call('HSET', KEYS[2], ARGV[4], ARGV[2])
  return 1
end
local sha = redis.call('HGET', KEYS[2], ARGV[2])
if not sha then return false end
redis.call('HDEL', KEYS[1], sha)
redis.call('HDEL', KEYS[2], ARGV[2])
return sha
