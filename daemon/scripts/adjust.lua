--[[
adjust.lua - an admin's score adjustment, applied atomically.

Called with EVALSHA by http_adjust.c, which has checked the request against
the rules in force: the challenge exists, the points are a non-zero whole
number, the period is not in the future, the leader is on the challenge's
leader list when it has one. This script does what needs shared state:
  - the leader must exist, and be in one of the challenge's teams when it is
    limited to teams (the team in the profile now, as score.lua judges);
  - no rescore of the period's board may be running;
  - no board may leave the range where composites are exact (|score| <
    2^21, see score.lua): the adjustment is refused whole otherwise;
  - the points go to the leader's boards (the period's and the all-time one,
    or the all-time one alone for period "all"), a leader not yet on a board
    starting at 0. The composite is score * 2^32 + (2^32 - 1 - reached), as
    in score.lua, where reached is the second the daemon computed: the
    adjustment's time counted from the period's start (clamped to 0 .. 2^32 -
    1; on the all-time board, Unix seconds);
  - the leader's team boards get the points too, and the team counts one
    more member when the leader was not on the board before;
  - each board's version is raised, for the read caches;
  - the adjustment is appended to the audit stream, to the event log as an
    entry with one field "a", to each board's list of adjustments ("leader|
    points|reached", which a rescore applies again: swap.lua), and to the
    leader's list of adjustments (newest first, the newest 50).
Nothing is written before every check has passed.

KEYS[1] leaders hash, KEYS[2] board versions, KEYS[3] audit stream, KEYS[4]
event log, KEYS[5] the leader's adjustments list, KEYS[6] the rescore lock
of the first board (http_rescore.c), then per board (one or two, the first
being the period's board): the board, its team board, its team counts,
its list of adjustments.
ARGV[1] leader, ARGV[2] points, ARGV[3] at (RFC 3339), ARGV[4] by (token
id), ARGV[5] challenge, ARGV[6] period id, ARGV[7] reason, ARGV[8] the
adjustment as compact JSON ending in "}" (at, by, leader, challenge, period,
points, reason), ARGV[9] the challenge's team filter (",a,b," or "" for
none), then per board: its name ("challenge:period") and reached.
Reply: {"E", what} with what "leader" (no such leader), "team" (not in a
team of the challenge), "range" (a score would leave the exact range) or
"rescore" (a rescore of the board runs: it would put back the board it
rebuilt, without this adjustment);
else {"ok", score on the first board, its rank there, audit entry id, then
per board: name, new version}.
]]

local K = 4294967296
local LIMIT = 2097152 -- 2^21
local call, format, floor, find, match = redis.call, string.format, math.floor, string.find,
  string.match
local leader, pts = ARGV[1], tonumber(ARGV[2])

local profile = call('HGET', KEYS[1], leader)
if not profile then return {'E', 'leader'} end
local t = find(profile, '"team":"', 1, true)
local team = t and match(profile, '^[^"]*', t + 8) or ''
if ARGV[9] ~= '' and (team == '' or not find(ARGV[9], ',' .. team .. ',', 1, true)) then
  return {'E', 'team'}
end
if call('EXISTS', KEYS[6]) == 1 then return {'E', 'rescore'} end

local nb = (#KEYS - 6) / 4
local was, score = {}, {}
for b = 1, nb do
  local z = call('ZSCORE', KEYS[3 + 4 * b], leader)
  was[b] = z and true or false
  score[b] = (was[b] and floor(tonumber(z) / K) or 0) + pts
  if score[b] >= LIMIT or score[b] <= -LIMIT then return {'E', 'range'} end
end

local reply = {'ok', score[1], 0, ''}
for b = 1, nb do
  local key, name, reached = KEYS[3 + 4 * b], ARGV[8 + 2 * b], tonumber(ARGV[9 + 2 * b])
  call('ZADD', key, format('%d', score[b] * K + (K - 1 - reached)), leader)
  if team ~= '' then
    call('ZINCRBY', KEYS[4 + 4 * b], pts, team)
    if not was[b] then call('HINCRBY', KEYS[5 + 4 * b], team, 1) end
  end
  call('RPUSH', KEYS[6 + 4 * b], leader .. '|' .. ARGV[2] .. '|' .. ARGV[9 + 2 * b])
  reply[#reply + 1] = name
  reply[#reply + 1] = call('HINCRBY', KEYS[2], name, 1)
end
reply[3] = call('ZCOUNT', KEYS[7], format('%d', (score[1] + 1) * K), '+inf') + 1

local after = format('%d', score[1])
reply[4] = call('XADD', KEYS[3], '*', 'at', ARGV[3], 'by', ARGV[4], 'leader', leader,
  'challenge', ARGV[5], 'period', ARGV[6], 'points', ARGV[2], 'reason', ARGV[7],
  'score_after', after)
call('XADD', KEYS[4], '*', 'a', ARGV[8])
call('LPUSH', KEYS[5], string.sub(ARGV[8], 1, -2) .. ',"score_after":' .. after .. '}')
call('LTRIM', KEYS[5], 0, 49)
return reply
