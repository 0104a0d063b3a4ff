--[[
  Shared helpers, pasted by the loader where a script says `-- @include "common"`.
  Times are integer epoch ms; they are formatted with %.0f because Lua 5.1 numbers are doubles.
]]
local SEP = '\31'

local function fmt(x)
  return string.format('%.0f', x)
end

-- HGET and friends return false for a missing value.
local function numOrNil(v)
  if v == false or v == nil then return nil end
  return tonumber(v)
end

-- Fixed width so the lex index sorts by time (valid until year 33658).
local function pad(t)
  return string.format('%015.0f', t)
end

-- Record members are "<eventId>\31<payload>"; eventIds never contain control characters (checked in store.ts).
local function payloadOf(member)
  local i = string.find(member, SEP, 1, true)
  if not i then return '' end
  return string.sub(member, i + 1)
end

local function eventIdOf(member)
  local i = string.find(member, SEP, 1, true)
  if not i then return member end
  return string.sub(member, 1, i - 1)
end

-- Byte order (Lua's < uses the server locale's collation, which may differ from ZSET member order).
local function bytesLess(a, b)
  local n = math.min(#a, #b)
  for i = 1, n do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x < y end
  end
  return #a < #b
end

--[[
  The crossing-wide idempotency check. Returns a reply table when the event must not be applied:
    {1}            duplicate (same eventId, same event time)
    {2, storedMs}  conflict (same eventId seen with another event time)
    {3, cutoffMs}  too late (older than the crossing's newest event minus the retention)
  otherwise records the eventId, advances the crossing's newest time, trims ids below the cutoff and returns nil.
]]
local function checkAndRecordId(idsKey, cmetaKey, eventId, t, retentionMs)
  local seen = redis.call('ZSCORE', idsKey, eventId)
  if seen then
    if tonumber(seen) == t then return {1} end
    return {2, tonumber(seen)}
  end
  local cmax = numOrNil(redis.call('HGET', cmetaKey, 'maxT'))
  if cmax and t < cmax - retentionMs then return {3, cmax - retentionMs} end
  redis.call('ZADD', idsKey, fmt(t), eventId)
  if not cmax or t > cmax then
    cmax = t
    redis.call('HSET', cmetaKey, 'maxT', fmt(t))
  end
  redis.call('ZREMRANGEBYSCORE', idsKey, '-inf', '(' .. fmt(cmax - retentionMs))
  return nil
end
