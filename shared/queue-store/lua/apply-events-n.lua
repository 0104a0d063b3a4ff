--[[
  apply-events: applies a batch of queue-scoped events (vehicle.*, lanes.changed, queue.observed) of ONE crossing,
  one after the other, each exactly as if it had been applied by a call of its own (the batch is atomic as a whole,
  and every event gets its own result). Each event's update is order-independent: a set-union, a max, a counter keyed
  by event time, or a fold of records trimmed in event-time order below a cutoff that only moves forward.

  What makes a batch cheaper than one call per event, without changing the resulting state: values read from Redis
  (crossing maxT, queue maxT/tb/minT, the oldest history buckets) are read once per call and kept in Lua locals;
  writes are collected and made once at the end, or just before something in the call reads them back (eventIds
  are looked up in the collected ones first; records are written before a trim or an oldest-record scan; history
  counters and bucket index before a history trim); the eventId trim is done once at the end (an id below the
  cutoff the per-event sequence would have trimmed at counts as unseen); scans that would find nothing are skipped.

  KEYS[1]  ids     crossing: applied eventIds (ZSET, score = event ms)
  KEYS[2]  cmeta   crossing: maxT
  then 11 keys per queue of the batch, queue q (1-based) at KEYS[2 + 11 * (q - 1) + i]:
    i=1  meta     queue: maxT, tb (trimmed below), fLen, fLanes, fMaxT (fold of trimmed records),
                  minT (oldest kept record; absent when none or not yet known)
    i=2..7 r:A r:S r:C r:X r:L r:O  records by kind, member "<eventId>\31<ref or value>", score = event ms
    i=8  vix      lex index "<ref>|<A|S>|<ms, 15 digits>|<eventId>" (score 0)
    i=9  hist     history buckets: "<bucket>:a" arrivals, ":s" service starts, ":ws" realised wait sum ms, ":wn" count
    i=10 hidx     bucket starts with counts (ZSET)
    i=11 hest     bucket starts with a published estimate (ZSET; trimmed here, written by write-estimate)
  (the number of keys is variable: 2 + 11 x queues)

  ARGV[1] record retention ms  ARGV[2] history retention ms  ARGV[3] history bucket ms
  then 6 values per event: queue index q, eventId, event ms, kind A|S|C|X|L|O, ref ('' if none), value ('' if none)

  Returns a flat list, two entries per event in ARGV order: code, arg
    0, 0 applied | 1, 0 duplicate | 2, storedMs eventId conflict | 3, cutoffMs too late
]]
-- @include "common"

local retention = tonumber(ARGV[1])
local histRetention = tonumber(ARGV[2])
local bucketMs = tonumber(ARGV[3])
local idsKey, cmetaKey = KEYS[1], KEYS[2]
local KINDS = { 'A', 'S', 'C', 'X', 'L', 'O' }
local KIND_OFFSET = { A = 2, S = 3, C = 4, X = 5, L = 6, O = 7 }
local KIND_ORDER = { A = 0, S = 1, C = 2, X = 3, L = 4, O = 5 }

-- Number formatting (string.format) is a visible part of the script's cost: bucket names are cached, and an
-- event time that arrived as plain digits is used as given (what fmt / pad would produce from it).
local bucketNames = {}
local function bucketOf(ms)
  local b = math.floor(ms / bucketMs) * bucketMs
  local name = bucketNames[b]
  if not name then
    name = fmt(b)
    bucketNames[b] = name
  end
  return name
end

local ZEROS = string.rep('0', 15)
local function fmtAndPad(tStr, t)
  if #tStr <= 15 and not string.find(tStr, '[^0-9]') and string.sub(tStr, 1, 1) ~= '0' then
    return tStr, string.sub(ZEROS, 1, 15 - #tStr) .. tStr
  end
  return fmt(t), pad(t)
end

-- smallest score of a ZSET, nil when empty
local function minScore(key)
  local first = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  if #first == 0 then return nil end
  return tonumber(first[2])
end

-- ---------------------------------------------------------------------------------------------------------------
-- crossing state: maxT read once, written at the end; the eventId trim (below cmax - retention) done once at the
-- end. `idCut` is the cutoff of the trim the per-event sequence would have done last (after the last applied
-- event): an id scored below it would already be gone, so it counts as unseen.
local cmax = numOrNil(redis.call('HGET', cmetaKey, 'maxT'))
local cmaxDirty = false
local idCut = nil
-- eventIds recorded by this call, written with one ZADD at the end
local newIds, newIdOrder, newIdText = {}, {}, {}

-- stored scores of the batch's eventIds, fetched with one ZMSCORE (only this call writes the set meanwhile)
local storedIds = {}
do
  local ids = {}
  for i = 5, #ARGV, 6 do ids[#ids + 1] = ARGV[i] end
  if #ids > 0 then
    local scores = redis.call('ZMSCORE', idsKey, unpack(ids))
    for i, id in ipairs(ids) do
      local v = numOrNil(scores[i])
      if v then storedIds[id] = v end
    end
  end
end

local function checkAndRecordIdCached(eventId, t, tS)
  local seen = newIds[eventId]
  if seen == nil then seen = storedIds[eventId] end
  if seen and idCut and seen < idCut then seen = nil end
  if seen then
    if seen == t then return 1, 0 end
    return 2, seen
  end
  if cmax and t < cmax - retention then return 3, cmax - retention end
  if newIds[eventId] == nil then newIdOrder[#newIdOrder + 1] = eventId end
  newIds[eventId] = t
  newIdText[eventId] = tS
  if not cmax or t > cmax then
    cmax = t
    cmaxDirty = true
  end
  idCut = cmax - retention
  return nil
end

-- ---------------------------------------------------------------------------------------------------------------
-- queue state, loaded when the batch first touches the queue
local queues = {}

local function queueState(qi)
  local s = queues[qi]
  if s then return s end
  local base = 2 + 11 * (qi - 1)
  s = {
    meta = KEYS[base + 1],
    kinds = {},
    vix = KEYS[base + 8],
    hist = KEYS[base + 9],
    hidx = KEYS[base + 10],
    hest = KEYS[base + 11],
    dirty = {},
    pendRec = {},
    pendHist = {},
    pendHistOrder = {},
    pendHidx = {},
    pendHidxOrder = {},
  }
  for k, off in pairs(KIND_OFFSET) do s.kinds[k] = KEYS[base + off] end
  local m = redis.call('HMGET', s.meta, 'maxT', 'tb', 'minT')
  s.maxT, s.tb, s.minT = numOrNil(m[1]), numOrNil(m[2]), numOrNil(m[3])
  s.hidxMin = minScore(s.hidx)
  s.hestMin = minScore(s.hest)
  queues[qi] = s
  return s
end

local function histIncr(s, field, by)
  if s.pendHist[field] == nil then
    s.pendHist[field] = 0
    s.pendHistOrder[#s.pendHistOrder + 1] = field
  end
  s.pendHist[field] = s.pendHist[field] + by
end

local function hidxAdd(s, b)
  if not s.pendHidx[b] then
    s.pendHidx[b] = true
    s.pendHidxOrder[#s.pendHidxOrder + 1] = b
  end
  local n = tonumber(b)
  if not s.hidxMin or n < s.hidxMin then s.hidxMin = n end
end

local function flushHist(s)
  for _, f in ipairs(s.pendHistOrder) do redis.call('HINCRBY', s.hist, f, fmt(s.pendHist[f])) end
  if #s.pendHidxOrder > 0 then
    local args = {}
    for _, b in ipairs(s.pendHidxOrder) do
      args[#args + 1] = b
      args[#args + 1] = b
    end
    redis.call('ZADD', s.hidx, unpack(args))
  end
  s.pendHist, s.pendHistOrder, s.pendHidx, s.pendHidxOrder = {}, {}, {}, {}
end

-- records of this call, written with one ZADD per kind before anything reads the record ZSETs (trim, oldest)
local function flushRecords(s)
  for k, args in pairs(s.pendRec) do redis.call('ZADD', s.kinds[k], unpack(args)) end
  s.pendRec = {}
end

local function flushQueue(s)
  flushRecords(s)
  flushHist(s)
  local fields = {}
  if s.dirty.maxT then fields[#fields + 1] = 'maxT'; fields[#fields + 1] = fmt(s.maxT) end
  if s.dirty.tb then fields[#fields + 1] = 'tb'; fields[#fields + 1] = fmt(s.tb) end
  if s.dirty.minT and s.minT then fields[#fields + 1] = 'minT'; fields[#fields + 1] = fmt(s.minT) end
  if #fields > 0 then redis.call('HSET', s.meta, unpack(fields)) end
  if s.dirty.minT and not s.minT then redis.call('HDEL', s.meta, 'minT') end
end

local function oldestKept(s)
  flushRecords(s)
  local minT = nil
  for _, k in ipairs(KINDS) do
    local t = minScore(s.kinds[k])
    if t and (not minT or t < minT) then minT = t end
  end
  return minT
end

-- time of the newest arrival of `ref` at or before the (padded) time, from the lex index
local function newestArrivalAtOrBefore(vix, ref, tPad)
  local row = redis.call('ZREVRANGEBYLEX', vix, '(' .. ref .. '|A|' .. tPad .. '|\255', '[' .. ref .. '|A|', 'LIMIT', 0, 1)
  if #row == 0 then return nil end
  return tonumber(string.sub(row[1], #ref + 4, #ref + 18))
end

-- ---------------------------------------------------------------------------------------------------------------
-- one event (the body of the former single-event script, with the cached fields)
local function applyOne(s, eventId, t, tS, tPad, kind, ref, value)
  local KIND_KEYS = s.kinds
  local meta, vix, hist, hidx, hest = s.meta, s.vix, s.hist, s.hidx, s.hest

  -- (d) the queue's newest event time
  if not s.maxT or t > s.maxT then
    s.maxT = t
    s.dirty.maxT = true
  end
  local qmax = s.maxT

  -- Retention: records older than qmax - retention are folded, in record order, into the queue length and lanes
  -- before they are removed, so a multi-day jam keeps its count. The cutoff only moves forward.
  -- minT (the oldest kept record, a function of the kept set) skips the six range scans when nothing is below
  -- the cutoff, which is the common case: the cutoff moves with almost every in-order event.
  local cutoff = qmax - retention
  local tb = s.tb
  if (not tb or cutoff > tb) and (not s.minT or s.minT < cutoff) then
    flushRecords(s)
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
    s.minT = oldestKept(s)
    s.dirty.minT = true
  end
  if not tb or cutoff > tb then
    s.tb = cutoff
    s.dirty.tb = true
  end

  -- History buckets older than qmax - history retention go (only scanned when the oldest bucket is that old).
  local hcutN = qmax - histRetention
  if s.hidxMin and s.hidxMin < hcutN then
    local hcut = '(' .. fmt(hcutN)
    flushHist(s)
    local oldBuckets = redis.call('ZRANGEBYSCORE', hidx, '-inf', hcut)
    for _, b in ipairs(oldBuckets) do
      redis.call('HDEL', hist, b .. ':a', b .. ':s', b .. ':ws', b .. ':wn')
    end
    if #oldBuckets > 0 then redis.call('ZREMRANGEBYSCORE', hidx, '-inf', hcut) end
    s.hidxMin = minScore(hidx)
  end
  if s.hestMin and s.hestMin < hcutN then
    local hcut = '(' .. fmt(hcutN)
    local oldEst = redis.call('ZRANGEBYSCORE', hest, '-inf', hcut)
    for _, b in ipairs(oldEst) do
      redis.call('HDEL', hist, b .. ':e')
    end
    if #oldEst > 0 then redis.call('ZREMRANGEBYSCORE', hest, '-inf', hcut) end
    s.hestMin = minScore(hest)
  end

  -- (b) the record itself
  local payload = value
  if kind == 'A' or kind == 'S' or kind == 'C' or kind == 'X' then payload = ref end
  local pend = s.pendRec[kind]
  if not pend then
    pend = {}
    s.pendRec[kind] = pend
  end
  pend[#pend + 1] = tS
  pend[#pend + 1] = eventId .. SEP .. payload
  if s.minT then
    if t < s.minT then
      s.minT = t
      s.dirty.minT = true
    end
  else
    -- unknown (no records before, or a store written before minT existed): take it from the kept records
    s.minT = oldestKept(s)
    s.dirty.minT = true
  end

  local bucket = bucketOf(t)

  -- (c) the per-vehicle index and (e) the history counts. A service start pairs with the newest arrival of the
  -- same ref at or before it; whichever of the two is applied second books the realised wait, so the sums do not
  -- depend on order.
  if kind == 'A' then
    histIncr(s, bucket .. ':a', 1)
    hidxAdd(s, bucket)
    -- a ref without any index entry yet (the usual arrival): no earlier arrival, no later one, no start to pair
    if ref ~= '' and #redis.call('ZRANGEBYLEX', vix, '[' .. ref .. '|', '(' .. ref .. '|\255', 'LIMIT', 0, 1) == 0 then
      redis.call('ZADD', vix, 0, ref .. '|A|' .. tPad .. '|' .. eventId)
    elseif ref ~= '' then
      local prevA = newestArrivalAtOrBefore(vix, ref, tPad)
      if prevA == nil or prevA < t then
        local nextRow = redis.call('ZRANGEBYLEX', vix, '(' .. ref .. '|A|' .. tPad .. '|\255', '(' .. ref .. '|A|\255', 'LIMIT', 0, 1)
        local upper = '(' .. ref .. '|S|\255'
        if #nextRow > 0 then upper = '(' .. ref .. '|S|' .. string.sub(nextRow[1], #ref + 4, #ref + 18) .. '|' end
        local starts = redis.call('ZRANGEBYLEX', vix, '[' .. ref .. '|S|' .. tPad .. '|', upper)
        for _, m in ipairs(starts) do
          local ts = tonumber(string.sub(m, #ref + 4, #ref + 18))
          local b = bucketOf(ts)
          if prevA then
            histIncr(s, b .. ':ws', prevA - t)
          else
            histIncr(s, b .. ':ws', ts - t)
            histIncr(s, b .. ':wn', 1)
          end
          hidxAdd(s, b)
        end
      end
      redis.call('ZADD', vix, 0, ref .. '|A|' .. tPad .. '|' .. eventId)
    end
  elseif kind == 'S' then
    histIncr(s, bucket .. ':s', 1)
    hidxAdd(s, bucket)
    if ref ~= '' then
      local a = newestArrivalAtOrBefore(vix, ref, tPad)
      if a then
        histIncr(s, bucket .. ':ws', t - a)
        histIncr(s, bucket .. ':wn', 1)
      end
      redis.call('ZADD', vix, 0, ref .. '|S|' .. tPad .. '|' .. eventId)
    end
  end
end

-- ---------------------------------------------------------------------------------------------------------------
local out = {}
local applied = false
for i = 4, #ARGV, 6 do
  local qi = tonumber(ARGV[i])
  local eventId = ARGV[i + 1]
  local t = tonumber(ARGV[i + 2])
  local tS, tPad = fmtAndPad(ARGV[i + 2], t)
  local code, arg = checkAndRecordIdCached(eventId, t, tS)
  if code then
    out[#out + 1] = code
    out[#out + 1] = arg
  else
    applied = true
    applyOne(queueState(qi), eventId, t, tS, tPad, ARGV[i + 3], ARGV[i + 4], ARGV[i + 5])
    out[#out + 1] = 0
    out[#out + 1] = 0
  end
end

for _, s in pairs(queues) do flushQueue(s) end
if cmaxDirty then redis.call('HSET', cmetaKey, 'maxT', fmt(cmax)) end
if applied then
  local args = {}
  for _, id in ipairs(newIdOrder) do
    args[#args + 1] = newIdText[id]
    args[#args + 1] = id
  end
  redis.call('ZADD', idsKey, unpack(args))
  redis.call('ZREMRANGEBYSCORE', idsKey, '-inf', '(' .. fmt(cmax - retention))
end
return out
