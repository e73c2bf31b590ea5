--[[
rules.lua - stores a new version of an org's rule set, atomically.

The rule set in force is one hash (version, doc, applied_at, source); every
version's document is also kept in a history hash, the newest KEEP of them.
The caller has validated the document. Storing the very same bytes again
changes nothing, so that a daemon re-applying an unchanged rules file (at
each start, on each SIGHUP) does not make new versions. Each new version is
PUBLISHed, so that every podiumd of the org installs it at once.

KEYS[1] rule set hash, KEYS[2] history hash (version -> doc).
ARGV[1] doc, ARGV[2] now (Unix ms), ARGV[3] source ("api" or "file"),
ARGV[4] expected version: "" = any, "*" = any existing one, else a number,
ARGV[5] the channel to PUBLISH a new version on.
Returns {"changed", version, applied_at}, {"same", version, applied_at}, or
{"conflict", current version (0 = none)} when ARGV[4] does not match.
]]

local KEEP = 50
local cur = redis.call('HMGET', KEYS[1], 'version', 'doc', 'applied_at')
local version = tonumber(cur[1]) or 0
local expected = ARGV[4]
if expected == '*' then
  if version == 0 then return {'conflict', 0} end
elseif expected ~= '' and tonumber(expected) ~= version then
  return {'conflict', version}
end
if version > 0 and cur[2] == ARGV[1] then
  return {'same', version, tonumber(cur[3]) or 0}
end
version = version + 1
redis.call('HSET', KEYS[1], 'version', version, 'doc', ARGV[1], 'applied_at', ARGV[2],
           'source', ARGV[3])
redis.call('HSET', KEYS[2], version, ARGV[1])
for _, field in ipairs(redis.call('HKEYS', KEYS[2])) do
  local v = tonumber(field)
  if v == nil or v <= version - KEEP then redis.call('HDEL', KEYS[2], field) end
end
redis.call('PUBLISH', ARGV[5], version)
return {'changed', version, tonumber(ARGV[2])}
