--[[
  apply-events: applies a batch of queue-scoped events (vehicle.*, lanes.changed, queue.observed) of ONE crossing,
  one after the other, each exactly as if it had been applied by a call of its own (the batch is atomic as a whole,
  and every event gets its own result). Each event's update is order-independent: a set-union, a max, a counter keyed
  by event time, or a fold of records trimmed in event-time order below a cutoff that only moves forward.

  What makes a batch cheaper than one call per event, without changing the resulting state: values read from Redis
  (crossing maxT, queue maxT/tb/minT, the oldest history buckets) are read once per call and kept in Lua locals;
  writes are collected and made once at the end, or just before something in the call reads them back (eventIds
  are looked up in the collected ones first; records are written before a trim or an oldest-record scan; history
  counters and bucket index before a history trim; per-vehicle index entries before the index is read for one of
  their refs (every index read is confined to one ref's range) or trimmed); the eventId trim is done once at the end
  (an id below the cutoff the per-event sequence would have trimmed at counts as unseen); scans that would find
  nothing are skipped.

  Cost notes (measured with perf on redis-server: the Lua interpreter, not the Redis commands, was the larger part of
  the script's time): every redis.call costs argument and reply conversion beyond the command itself, so writes are
  batched as above and number arguments are passed as strings; per event, globals and library functions are read
  from locals, number formatting (string.format) and string building are cached per call where the same value
  recurs (bucket names and their field names), and an event time that arrived as plain digits is used as given.

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
  ARGV[4] the events, 6 fields each: queue index q, eventId, event ms, kind A|S|C|X|L|O, ref ('' if none), value
          ('' if none), every field of every event joined by "\30" into ONE argument (eventIds and refs hold no
          control character, checked in store.ts). One argument instead of 6 per event: the client's work per
          argument (ioredis: ~2 us per event of 6 arguments, ~0.8 packed) dominated the call's cost in Node, and
          splitting the string here costs Redis about what receiving the arguments did.

  Returns a flat list, two entries per event in ARGV[4] order: code, arg
    0, 0 applied | 1, 0 duplicate | 2, storedMs eventId conflict | 3, cutoffMs too late
]]
-- @include "common"

local call = redis.call
local tonumber, unpack, pairs, ipairs = tonumber, unpack, pairs, ipairs
local floor = math.floor
local sfind, ssub = string.find, string.sub

local retention = tonumber(ARGV[1])
local histRetention = tonumber(ARGV[2])
local bucketMs = tonumber(ARGV[3])
local idsKey, cmetaKey = KEYS[1], KEYS[2]

-- the events' fields, from ARGV[4] (EV[1 + 6 * (e - 1) + f] is field f of event e, f = 0..5)
local EV = {}
do
  local str, p, n = ARGV[4], 1, 0
  if str and #str > 0 then
    while true do
      local e = sfind(str, '\30', p, true)
      n = n + 1
      if not e then
        EV[n] = ssub(str, p)
        break
      end
      EV[n] = ssub(str, p, e - 1)
      p = e + 1
    end
  end
  if n % 6 ~= 0 then return redis.error_reply('apply-events: ARGV[4] must hold 6 fields per event, got ' .. n) end
end
local KINDS = { 'A', 'S', 'C', 'X', 'L', 'O' }
local KIND_ORDER = { A = 0, S = 1, C = 2, X = 3, L = 4, O = 5 }

-- History buckets of this call by start: the name (fmt), its number and its field names, built once per bucket.
local buckets = {}
local function bucketOf(ms)
  local b = floor(ms / bucketMs) * bucketMs
  local bi = buckets[b]
  if not bi then
    local name = fmt(b)
    bi = { name = name, n = tonumber(name), a = name .. ':a', s = name .. ':s', ws = name .. ':ws', wn = name .. ':wn' }
    buckets[b] = bi
  end
  return bi
end

-- fmt(n) of a history increment (mostly small counts that recur within a call); 0 is not cached (it would also
-- answer for -0)
local intStrs = {}
local function intStr(n)
  if n == 0 then return fmt(n) end
  local str = intStrs[n]
  if not str then
    str = fmt(n)
    intStrs[n] = str
  end
  return str
end

-- fmt(t) and pad(t) of an event time; a time that arrived as plain digits (no leading zero, at most 15) is used as given
local PADS = {}
for n = 0, 15 do PADS[n] = string.rep('0', 15 - n) end
local function fmtAndPad(tStr, t)
  local n = #tStr
  if n <= 15 and (n == 0 or sfind(tStr, '^[1-9][0-9]*$')) then return tStr, PADS[n] .. tStr end
  return fmt(t), pad(t)
end

-- smallest score of a ZSET, nil when empty
local function minScore(key)
  local first = call('ZRANGE', key, '0', '0', 'WITHSCORES')
  if #first == 0 then return nil end
  return tonumber(first[2])
end

-- ---------------------------------------------------------------------------------------------------------------
-- crossing state: maxT read once, written at the end; the eventId trim (below cmax - retention) done once at the
-- end. `idCut` is the cutoff of the trim the per-event sequence would have done last (after the last applied
-- event): an id scored below it would already be gone, so it counts as unseen.
local cmax = numOrNil(call('HGET', cmetaKey, 'maxT'))
local cmaxDirty = false
local cmaxText -- fmt(cmax) once it comes from an event of this call (the event's tS)
local idCut = nil
-- eventIds recorded by this call (id -> ms), written with one ZADD at the end: its arguments (time text, id) are
-- collected in first-recorded order; an id recorded again (seen below idCut: counted as unseen) gets its new time
local newIds, newIdArgs = {}, {}

-- stored scores of the batch's eventIds, fetched with one ZMSCORE (only this call writes the set meanwhile)
local storedIds = {}
do
  local ids = {}
  for i = 2, #EV, 6 do ids[#ids + 1] = EV[i] end
  if #ids > 0 then
    local scores = call('ZMSCORE', idsKey, unpack(ids))
    for i = 1, #ids do
      local v = scores[i]
      if v then storedIds[ids[i]] = tonumber(v) end
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
  if newIds[eventId] == nil then
    local n = #newIdArgs
    newIdArgs[n + 1] = tS
    newIdArgs[n + 2] = eventId
  else
    for j = 2, #newIdArgs, 2 do
      if newIdArgs[j] == eventId then newIdArgs[j - 1] = tS end
    end
  end
  newIds[eventId] = t
  if not cmax or t > cmax then
    cmax = t
    cmaxText = tS
    cmaxDirty = true
  end
  idCut = cmax - retention
  return nil
end

-- ---------------------------------------------------------------------------------------------------------------
-- queue state, loaded when the batch first touches the queue (by index, and by the index's text in ARGV[4])
local queues = {}
local queueByText = {}

local function queueState(qi)
  local base = 2 + 11 * (qi - 1)
  local s = {
    meta = KEYS[base + 1],
    kinds = { A = KEYS[base + 2], S = KEYS[base + 3], C = KEYS[base + 4], X = KEYS[base + 5], L = KEYS[base + 6], O = KEYS[base + 7] },
    vix = KEYS[base + 8],
    hist = KEYS[base + 9],
    hidx = KEYS[base + 10],
    hest = KEYS[base + 11],
    maxT = false,
    tb = false,
    dirtyMaxT = false,
    dirtyTb = false,
    minT = false,
    maxTText = false, -- fmt(maxT) / fmt(minT) when they come from an event of this call (its tS)
    minTText = false,
    hidxMin = false,
    hestMin = false,
    dirtyMinT = false,
    pendRec = {},
    pendHist = {},
    pendHistOrder = {},
    pendHidx = {},
    pendHidxOrder = {},
    pendVix = {},
    pendVixRef = {},
  }
  local m = call('HMGET', s.meta, 'maxT', 'tb', 'minT')
  s.maxT, s.tb, s.minT = numOrNil(m[1]), numOrNil(m[2]), numOrNil(m[3])
  s.hidxMin = minScore(s.hidx)
  s.hestMin = minScore(s.hest)
  queues[qi] = s
  return s
end

local function histIncr(s, field, by)
  local cur = s.pendHist[field]
  if cur == nil then
    cur = 0
    s.pendHistOrder[#s.pendHistOrder + 1] = field
  end
  s.pendHist[field] = cur + by
end

local function hidxAdd(s, bi)
  local b = bi.name
  if not s.pendHidx[b] then
    s.pendHidx[b] = true
    s.pendHidxOrder[#s.pendHidxOrder + 1] = b
  end
  local n = bi.n
  if not s.hidxMin or n < s.hidxMin then s.hidxMin = n end
end

local function flushHist(s)
  local hist, order, sums = s.hist, s.pendHistOrder, s.pendHist
  for i = 1, #order do
    local f = order[i]
    call('HINCRBY', hist, f, intStr(sums[f]))
  end
  local buckets = s.pendHidxOrder
  if #buckets > 0 then
    local args = {}
    for i = 1, #buckets do
      args[2 * i - 1] = buckets[i]
      args[2 * i] = buckets[i]
    end
    call('ZADD', s.hidx, unpack(args))
  end
  s.pendHist, s.pendHistOrder, s.pendHidx, s.pendHidxOrder = {}, {}, {}, {}
end

-- records of this call, written with one ZADD per kind before anything reads the record ZSETs (trim, oldest)
local function flushRecords(s)
  for k, args in pairs(s.pendRec) do call('ZADD', s.kinds[k], unpack(args)) end
  s.pendRec = {}
end

-- per-vehicle index entries of this call, written with one ZADD before the index is read for one of their refs
-- (every read is confined to one ref's range) or trimmed, and at the end
local function flushVix(s)
  if #s.pendVix > 0 then
    call('ZADD', s.vix, unpack(s.pendVix))
    s.pendVix, s.pendVixRef = {}, {}
  end
end

local function vixAdd(s, ref, member)
  local p = s.pendVix
  local n = #p
  p[n + 1] = '0'
  p[n + 2] = member
  s.pendVixRef[ref] = true
end

local function flushQueue(s)
  flushRecords(s)
  flushVix(s)
  flushHist(s)
  local fields = {}
  if s.dirtyMaxT then fields[#fields + 1] = 'maxT'; fields[#fields + 1] = s.maxTText end
  if s.dirtyTb then fields[#fields + 1] = 'tb'; fields[#fields + 1] = fmt(s.tb) end
  if s.dirtyMinT and s.minT then fields[#fields + 1] = 'minT'; fields[#fields + 1] = s.minTText or fmt(s.minT) end
  if #fields > 0 then call('HSET', s.meta, unpack(fields)) end
  if s.dirtyMinT and not s.minT then call('HDEL', s.meta, 'minT') end
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
  local row = call('ZREVRANGEBYLEX', vix, '(' .. ref .. '|A|' .. tPad .. '|\255', '[' .. ref .. '|A|', 'LIMIT', '0', '1')
  if #row == 0 then return nil end
  return tonumber(ssub(row[1], #ref + 4, #ref + 18))
end

-- Retention: records older than qmax - retention are folded, in record order, into the queue length and lanes
-- before they are removed, so a multi-day jam keeps its count.
local function trimRecords(s, cutoff)
  local KIND_KEYS, meta, vix = s.kinds, s.meta, s.vix
  flushRecords(s)
  flushVix(s)
  local trimmed = {}
  for _, k in ipairs(KINDS) do
    local rows = call('ZRANGEBYSCORE', KIND_KEYS[k], '-inf', '(' .. fmt(cutoff), 'WITHSCORES')
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
    local fLen = numOrNil(call('HGET', meta, 'fLen')) or 0
    local fLanes = call('HGET', meta, 'fLanes')
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
        call('ZREM', vix, payload .. '|' .. k .. '|' .. pad(r[1]) .. '|' .. eventIdOf(r[3]))
      end
    end
    call('HSET', meta, 'fLen', fmt(fLen), 'fMaxT', fmt(trimmed[#trimmed][1]))
    if fLanes then call('HSET', meta, 'fLanes', fLanes) end
    for _, k in ipairs(KINDS) do
      call('ZREMRANGEBYSCORE', KIND_KEYS[k], '-inf', '(' .. fmt(cutoff))
    end
  end
  s.minT = oldestKept(s)
  s.minTText = nil
  s.dirtyMinT = true
end

-- History buckets older than hcutN go (hist fields, hidx / hest entries).
local function trimHidx(s, hcutN)
  local hist, hidx = s.hist, s.hidx
  local hcut = '(' .. fmt(hcutN)
  flushHist(s)
  local oldBuckets = call('ZRANGEBYSCORE', hidx, '-inf', hcut)
  for _, b in ipairs(oldBuckets) do
    call('HDEL', hist, b .. ':a', b .. ':s', b .. ':ws', b .. ':wn')
  end
  if #oldBuckets > 0 then call('ZREMRANGEBYSCORE', hidx, '-inf', hcut) end
  s.hidxMin = minScore(hidx)
end

local function trimHest(s, hcutN)
  local hist, hest = s.hist, s.hest
  local hcut = '(' .. fmt(hcutN)
  local oldEst = call('ZRANGEBYSCORE', hest, '-inf', hcut)
  for _, b in ipairs(oldEst) do
    call('HDEL', hist, b .. ':e')
  end
  if #oldEst > 0 then call('ZREMRANGEBYSCORE', hest, '-inf', hcut) end
  s.hestMin = minScore(hest)
end

-- ---------------------------------------------------------------------------------------------------------------
-- one event (the body of the former single-event script, with the cached fields)
local function applyOne(s, eventId, t, tS, tPad, kind, ref, value)
  -- (d) the queue's newest event time
  local qmax = s.maxT
  if not qmax or t > qmax then
    qmax = t
    s.maxT = t
    s.maxTText = tS
    s.dirtyMaxT = true
  end

  -- Retention (trimRecords). minT (the oldest kept record, a function of the kept set) skips the six range scans
  -- when nothing is below the cutoff, which is the common case: the cutoff moves with almost every in-order event.
  local cutoff = qmax - retention
  local tb = s.tb
  if not tb or cutoff > tb then
    local minT = s.minT
    if not minT or minT < cutoff then trimRecords(s, cutoff) end
    s.tb = cutoff
    s.dirtyTb = true
  end

  -- History buckets older than qmax - history retention go (only scanned when the oldest bucket is that old).
  local hcutN = qmax - histRetention
  local hm = s.hidxMin
  if hm and hm < hcutN then trimHidx(s, hcutN) end
  hm = s.hestMin
  if hm and hm < hcutN then trimHest(s, hcutN) end

  -- (b) the record itself
  local payload = value
  if kind == 'A' or kind == 'S' or kind == 'C' or kind == 'X' then payload = ref end
  local pend = s.pendRec[kind]
  if not pend then
    pend = {}
    s.pendRec[kind] = pend
  end
  local np = #pend
  pend[np + 1] = tS
  pend[np + 2] = eventId .. SEP .. payload
  local minT = s.minT
  if minT then
    if t < minT then
      s.minT = t
      s.minTText = tS
      s.dirtyMinT = true
    end
  else
    -- unknown (no records before, or a store written before minT existed): take it from the kept records
    s.minT = oldestKept(s)
    s.minTText = nil
    s.dirtyMinT = true
  end

  -- (c) the per-vehicle index and (e) the history counts. A service start pairs with the newest arrival of the
  -- same ref at or before it; whichever of the two is applied second books the realised wait, so the sums do not
  -- depend on order.
  if kind == 'A' then
    local bi = bucketOf(t)
    histIncr(s, bi.a, 1)
    hidxAdd(s, bi)
    if ref ~= '' then
      local vix = s.vix
      if s.pendVixRef[ref] then flushVix(s) end
      -- a ref without any index entry yet (the usual arrival): no earlier arrival, no later one, no start to pair
      if #call('ZRANGEBYLEX', vix, '[' .. ref .. '|', '(' .. ref .. '|\255', 'LIMIT', '0', '1') > 0 then
        local prevA = newestArrivalAtOrBefore(vix, ref, tPad)
        if prevA == nil or prevA < t then
          local nextRow = call('ZRANGEBYLEX', vix, '(' .. ref .. '|A|' .. tPad .. '|\255', '(' .. ref .. '|A|\255', 'LIMIT', '0', '1')
          local upper = '(' .. ref .. '|S|\255'
          if #nextRow > 0 then upper = '(' .. ref .. '|S|' .. ssub(nextRow[1], #ref + 4, #ref + 18) .. '|' end
          local starts = call('ZRANGEBYLEX', vix, '[' .. ref .. '|S|' .. tPad .. '|', upper)
          for _, m in ipairs(starts) do
            local ts = tonumber(ssub(m, #ref + 4, #ref + 18))
            local sb = bucketOf(ts)
            if prevA then
              histIncr(s, sb.ws, prevA - t)
            else
              histIncr(s, sb.ws, ts - t)
              histIncr(s, sb.wn, 1)
            end
            hidxAdd(s, sb)
          end
        end
      end
      vixAdd(s, ref, ref .. '|A|' .. tPad .. '|' .. eventId)
    end
  elseif kind == 'S' then
    local bi = bucketOf(t)
    histIncr(s, bi.s, 1)
    hidxAdd(s, bi)
    if ref ~= '' then
      if s.pendVixRef[ref] then flushVix(s) end
      local a = newestArrivalAtOrBefore(s.vix, ref, tPad)
      if a then
        histIncr(s, bi.ws, t - a)
        histIncr(s, bi.wn, 1)
      end
      vixAdd(s, ref, ref .. '|S|' .. tPad .. '|' .. eventId)
    end
  end
end

-- ---------------------------------------------------------------------------------------------------------------
local out = {}
local nOut = 0
local applied = false
for i = 1, #EV, 6 do
  local tStr = EV[i + 2]
  local t = tonumber(tStr)
  local eventId = EV[i + 1]
  local tS, tPad = fmtAndPad(tStr, t)
  local code, arg = checkAndRecordIdCached(eventId, t, tS)
  if code then
    out[nOut + 1] = code
    out[nOut + 2] = arg
  else
    applied = true
    local qs = EV[i]
    local s = queueByText[qs]
    if not s then
      local qi = tonumber(qs)
      s = queues[qi] or queueState(qi)
      queueByText[qs] = s
    end
    applyOne(s, eventId, t, tS, tPad, EV[i + 3], EV[i + 4], EV[i + 5])
    out[nOut + 1] = 0
    out[nOut + 2] = 0
  end
  nOut = nOut + 2
end

for _, s in pairs(queues) do flushQueue(s) end
if cmaxDirty then call('HSET', cmetaKey, 'maxT', cmaxText) end
if applied then
  call('ZADD', idsKey, unpack(newIdArgs))
  call('ZREMRANGEBYSCORE', idsKey, '-inf', '(' .. fmt(cmax - retention))
end
return out
