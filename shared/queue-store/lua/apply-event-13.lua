--[[
  apply-event: applies ONE queue-scoped event (vehicle.*, lanes.changed, queue.observed) atomically and
  order-independently: every update is a set-union, a max, a counter keyed by event time, or a fold of records
  trimmed in event-time order below a cutoff that only moves forward.

  KEYS[1]  ids     crossing: applied eventIds (ZSET, score = event ms)
  KEYS[2]  cmeta   crossing: maxT
  KEYS[3]  meta    queue: maxT, tb (trimmed below), fLen, fLanes, fMaxT (fold of trimmed records),
                   minT (oldest kept record; absent when none or not yet known)
  KEYS[4]  r:A     KEYS[5] r:S   KEYS[6] r:C   KEYS[7] r:X   KEYS[8] r:L   KEYS[9] r:O
                   records by kind, member "<eventId>\31<ref or value>", score = event ms
  KEYS[10] vix     lex index "<ref>|<A|S>|<ms, 15 digits>|<eventId>" (score 0)
  KEYS[11] hist    history buckets: "<bucket>:a" arrivals, ":s" service starts, ":ws" realised wait sum ms, ":wn" count
  KEYS[12] hidx    bucket starts with counts (ZSET)
  KEYS[13] hest    bucket starts with a published estimate (ZSET; trimmed here, written by write-estimate)

  ARGV[1] eventId  ARGV[2] event ms  ARGV[3] kind A|S|C|X|L|O  ARGV[4] ref ('' if none)  ARGV[5] value ('' if none)
  ARGV[6] record retention ms  ARGV[7] history retention ms  ARGV[8] history bucket ms

  Returns {0} applied | {1} duplicate | {2, storedMs} eventId conflict | {3, cutoffMs} too late
]]
-- @include "common"

local eventId = ARGV[1]
local t = tonumber(ARGV[2])
local kind = ARGV[3]
local ref = ARGV[4]
local value = ARGV[5]
local retention = tonumber(ARGV[6])
local histRetention = tonumber(ARGV[7])
local bucketMs = tonumber(ARGV[8])

local rejected = checkAndRecordId(KEYS[1], KEYS[2], eventId, t, retention)
if rejected then return rejected end

local meta, vix, hist, hidx, hest = KEYS[3], KEYS[10], KEYS[11], KEYS[12], KEYS[13]
local KINDS = { 'A', 'S', 'C', 'X', 'L', 'O' }
local KIND_KEYS = { A = KEYS[4], S = KEYS[5], C = KEYS[6], X = KEYS[7], L = KEYS[8], O = KEYS[9] }
local KIND_ORDER = { A = 0, S = 1, C = 2, X = 3, L = 4, O = 5 }

-- (d) the queue's newest event time
local qmax = numOrNil(redis.call('HGET', meta, 'maxT'))
if not qmax or t > qmax then
  qmax = t
  redis.call('HSET', meta, 'maxT', fmt(t))
end

-- Retention: records older than qmax - retention are folded, in record order, into the queue length and lanes
-- before they are removed, so a multi-day jam keeps its count. The cutoff only moves forward.
-- minT (the oldest kept record, a function of the kept set) skips the six range scans when nothing is below
-- the cutoff, which is the common case: the cutoff moves with almost every in-order event.
local cutoff = qmax - retention
local tb = numOrNil(redis.call('HGET', meta, 'tb'))
local minT = numOrNil(redis.call('HGET', meta, 'minT'))
if (not tb or cutoff > tb) and (not minT or minT < cutoff) then
  local trimmed = {}
  for _, k in ipairs(KINDS) do
    local rows = redis.call('ZRANGEBYSCORE', KIND_KEYS[k], '-inf', '(' .. fmt(cutoff), 'WITHSCORES')
    for i = 1, #rows, 2 do
      trimmed[#trimmed + 1] = { tonumber(rows[i + 1]), KIND_ORDER[k], rows[i], k }
    end
  end
  if #trimmed > 0 then
    table.sort(trimmed, function(a, b)
      if a[1] ~= b[1] then return a[1] < b[1] end
      if a[2] ~= b[2] then return a[2] < b[2] end
      return bytesLess(a[3], b[3])
    end)
    local fLen = numOrNil(redis.call('HGET', meta, 'fLen')) or 0
    local fLanes = redis.call('HGET', meta, 'fLanes')
    for _, r in ipairs(trimmed) do
      local k, payload = r[4], payloadOf(r[3])
      if k == 'O' then
        fLen = tonumber(payload)
      elseif k == 'A' then
        fLen = fLen + 1
      elseif k == 'S' or k == 'X' then
        fLen = fLen - 1
      elseif k == 'L' then
        fLanes = payload
      end
      if (k == 'A' or k == 'S') and payload ~= '' then
        redis.call('ZREM', vix, payload .. '|' .. k .. '|' .. pad(r[1]) .. '|' .. eventIdOf(r[3]))
      end
    end
    redis.call('HSET', meta, 'fLen', fmt(fLen), 'fMaxT', fmt(trimmed[#trimmed][1]))
    if fLanes then redis.call('HSET', meta, 'fLanes', fLanes) end
    for _, k in ipairs(KINDS) do
      redis.call('ZREMRANGEBYSCORE', KIND_KEYS[k], '-inf', '(' .. fmt(cutoff))
    end
  end
  minT = nil
  for _, k in ipairs(KINDS) do
    local first = redis.call('ZRANGE', KIND_KEYS[k], 0, 0, 'WITHSCORES')
    if #first > 0 and (not minT or tonumber(first[2]) < minT) then minT = tonumber(first[2]) end
  end
  if minT then redis.call('HSET', meta, 'minT', fmt(minT)) else redis.call('HDEL', meta, 'minT') end
end
if not tb or cutoff > tb then redis.call('HSET', meta, 'tb', fmt(cutoff)) end

-- History buckets older than qmax - history retention go.
local hcut = '(' .. fmt(qmax - histRetention)
local oldBuckets = redis.call('ZRANGEBYSCORE', hidx, '-inf', hcut)
for _, b in ipairs(oldBuckets) do
  redis.call('HDEL', hist, b .. ':a', b .. ':s', b .. ':ws', b .. ':wn')
end
if #oldBuckets > 0 then redis.call('ZREMRANGEBYSCORE', hidx, '-inf', hcut) end
local oldEst = redis.call('ZRANGEBYSCORE', hest, '-inf', hcut)
for _, b in ipairs(oldEst) do
  redis.call('HDEL', hist, b .. ':e')
end
if #oldEst > 0 then redis.call('ZREMRANGEBYSCORE', hest, '-inf', hcut) end

-- (b) the record itself
local payload = value
if kind == 'A' or kind == 'S' or kind == 'C' or kind == 'X' then payload = ref end
redis.call('ZADD', KIND_KEYS[kind], fmt(t), eventId .. SEP .. payload)
if minT then
  if t < minT then redis.call('HSET', meta, 'minT', fmt(t)) end
else
  -- unknown (no records before, or a store written before minT existed): take it from the kept records
  minT = t
  for _, k in ipairs(KINDS) do
    local first = redis.call('ZRANGE', KIND_KEYS[k], 0, 0, 'WITHSCORES')
    if #first > 0 and tonumber(first[2]) < minT then minT = tonumber(first[2]) end
  end
  redis.call('HSET', meta, 'minT', fmt(minT))
end

local bucket = fmt(math.floor(t / bucketMs) * bucketMs)
local function bucketOf(ms)
  return fmt(math.floor(ms / bucketMs) * bucketMs)
end

-- (c) the per-vehicle index and (e) the history counts. A service start pairs with the newest arrival of the
-- same ref at or before it; whichever of the two is applied second books the realised wait, so the sums do not
-- depend on order.
local function newestArrivalAtOrBefore(ms)
  local row = redis.call('ZREVRANGEBYLEX', vix, '(' .. ref .. '|A|' .. pad(ms) .. '|\255', '[' .. ref .. '|A|', 'LIMIT', 0, 1)
  if #row == 0 then return nil end
  return tonumber(string.sub(row[1], #ref + 4, #ref + 18))
end

if kind == 'A' then
  redis.call('HINCRBY', hist, bucket .. ':a', 1)
  redis.call('ZADD', hidx, bucket, bucket)
  if ref ~= '' then
    local prevA = newestArrivalAtOrBefore(t)
    if prevA == nil or prevA < t then
      local nextRow = redis.call('ZRANGEBYLEX', vix, '(' .. ref .. '|A|' .. pad(t) .. '|\255', '(' .. ref .. '|A|\255', 'LIMIT', 0, 1)
      local upper = '(' .. ref .. '|S|\255'
      if #nextRow > 0 then upper = '(' .. ref .. '|S|' .. string.sub(nextRow[1], #ref + 4, #ref + 18) .. '|' end
      local starts = redis.call('ZRANGEBYLEX', vix, '[' .. ref .. '|S|' .. pad(t) .. '|', upper)
      for _, m in ipairs(starts) do
        local ts = tonumber(string.sub(m, #ref + 4, #ref + 18))
        local b = bucketOf(ts)
        if prevA then
          redis.call('HINCRBY', hist, b .. ':ws', fmt(prevA - t))
        else
          redis.call('HINCRBY', hist, b .. ':ws', fmt(ts - t))
          redis.call('HINCRBY', hist, b .. ':wn', 1)
        end
        redis.call('ZADD', hidx, b, b)
      end
    end
    redis.call('ZADD', vix, 0, ref .. '|A|' .. pad(t) .. '|' .. eventId)
  end
elseif kind == 'S' then
  redis.call('HINCRBY', hist, bucket .. ':s', 1)
  redis.call('ZADD', hidx, bucket, bucket)
  if ref ~= '' then
    local a = newestArrivalAtOrBefore(t)
    if a then
      redis.call('HINCRBY', hist, bucket .. ':ws', fmt(t - a))
      redis.call('HINCRBY', hist, bucket .. ':wn', 1)
    end
    redis.call('ZADD', vix, 0, ref .. '|S|' .. pad(t) .. '|' .. eventId)
  end
end

return { 0 }
