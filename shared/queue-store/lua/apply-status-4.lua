--[[
  apply-status: applies ONE crossing.status event atomically. Status records live under the crossing's hash tag,
  one ZSET per scope (direction or *, class or *), so a crossing-wide status reaches every queue of the crossing.

  KEYS[1] ids     crossing: applied eventIds (ZSET, score = event ms)
  KEYS[2] cmeta   crossing: maxT
  KEYS[3] st      the scope's status records, member "<eventId>\31<status>\31<untilMs or ''>\31<reason>"
  KEYS[4] stfold  per scope "<scope>:maxT", "<scope>:tb" (trimmed below), "<scope>:f" = "<ms>\31<member>" (newest trimmed)

  ARGV[1] eventId  ARGV[2] event ms  ARGV[3] member  ARGV[4] scope "<dir|*>:<class|*>"  ARGV[5] record retention ms

  Returns {0} applied | {1} duplicate | {2, storedMs} eventId conflict | {3, cutoffMs} too late
]]
-- @include "common"

local eventId = ARGV[1]
local t = tonumber(ARGV[2])
local member = ARGV[3]
local scope = ARGV[4]
local retention = tonumber(ARGV[5])
local st, stfold = KEYS[3], KEYS[4]

local rejected = checkAndRecordId(KEYS[1], KEYS[2], eventId, t, retention)
if rejected then return rejected end

local smax = numOrNil(redis.call('HGET', stfold, scope .. ':maxT'))
if not smax or t > smax then
  smax = t
  redis.call('HSET', stfold, scope .. ':maxT', fmt(t))
end

-- Keep the newest trimmed record as the fold: a closure announced long ago still applies until a newer status.
local cutoff = smax - retention
local tb = numOrNil(redis.call('HGET', stfold, scope .. ':tb'))
if not tb or cutoff > tb then
  local rows = redis.call('ZRANGEBYSCORE', st, '-inf', '(' .. fmt(cutoff), 'WITHSCORES')
  if #rows > 0 then
    redis.call('HSET', stfold, scope .. ':f', rows[#rows] .. SEP .. rows[#rows - 1])
    redis.call('ZREMRANGEBYSCORE', st, '-inf', '(' .. fmt(cutoff))
  end
  redis.call('HSET', stfold, scope .. ':tb', fmt(cutoff))
end

redis.call('ZADD', st, fmt(t), member)
return { 0 }
