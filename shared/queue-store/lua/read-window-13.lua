--[[
  read-window: everything a QueueWindow needs, as of asOfMs, in one atomic read. Nothing after asOfMs is read:
  every range is bounded by asOfMs (records, counts, lex lookups bounded by the record's own time).

  KEYS[1]  meta    queue: tb, fLen, fLanes, fMaxT
  KEYS[2]  r:A     KEYS[3] r:S   KEYS[4] r:C   KEYS[5] r:X   KEYS[6] r:L   KEYS[7] r:O
  KEYS[8]  vix     lex index "<ref>|<A|S>|<ms>|<eventId>"
  KEYS[9..12]      status ZSETs of the 4 scopes that apply to the queue (dir:class, dir:*, *:class, *:*)
  KEYS[13] stfold  per scope tb and fold

  ARGV[1] lookback ms  ARGV[2] asOfMs, or '' for the queue's newest event time (its maxT and the maxT of the 4
  status scopes: what the estimator refreshes to)  ARGV[3] max records (the lookback is halved until the window fits)
  ARGV[4..7] the 4 scope names, in the order of KEYS[9..12]
  ARGV[8..24] optional, for a delta read (see below): cached asOf, cached from, fMaxT, lo and count of A S C X L O,
  the lowest `before` the caller's cached service starts and crossings need ('' none, '-inf' one has no before)

  Returns {5} when ARGV[2] is '' and the queue has no event, {4, cutoffMs} when asOfMs is older than what retention
  kept, else
    {0, asOfMs, fromMs, queueLengthAtFrom, lanesAtFrom or -1, lastEventMs or -1, statusMs or -1, statusMember or '',
     {ref, ms, ...} earlierArrivals, {ref, ms, ...} earlierStarts,
     queue records as ONE string "<kind><ms>\31<member>[\31<before>]" joined by "\30" (members hold no control
     character but the \31 after the eventId, see store.ts; S and C records with a ref carry their before),
     {ms, member, ...} status records, 1 for a delta read (records after the cached asOf only; earlier arrivals and
     starts then left to the caller) else 0, {fMaxT, {lo, count} x 6} for the next delta read}
  (fromMs may be later than asked: clamped to the retention boundary and shrunk to fit the record cap). One string
  instead of three reply items per record: decoding the reply was most of a window read's cost in the client.
]]
-- @include "common"

local lookback = tonumber(ARGV[1])
local cap = tonumber(ARGV[3])
local meta, vix, stfold = KEYS[1], KEYS[8], KEYS[13]
local KINDS = { 'A', 'S', 'C', 'X', 'L', 'O' }
local KIND_KEYS = { A = KEYS[2], S = KEYS[3], C = KEYS[4], X = KEYS[5], L = KEYS[6], O = KEYS[7] }
local scopes = { { key = KEYS[9], name = ARGV[4] }, { key = KEYS[10], name = ARGV[5] }, { key = KEYS[11], name = ARGV[6] }, { key = KEYS[12], name = ARGV[7] } }

local asOf
if ARGV[2] == '' then
  asOf = numOrNil(redis.call('HGET', meta, 'maxT'))
  local smax = redis.call('HMGET', stfold, scopes[1].name .. ':maxT', scopes[2].name .. ':maxT', scopes[3].name .. ':maxT', scopes[4].name .. ':maxT')
  for i = 1, 4 do
    local v = numOrNil(smax[i])
    if v and (not asOf or v > asOf) then asOf = v end
  end
  if not asOf then return { 5 } end
else
  asOf = tonumber(ARGV[2])
end
local from = asOf - lookback

-- Below the trim boundaries only folds remain: the window cannot start earlier.
local boundary = numOrNil(redis.call('HGET', meta, 'tb'))
for _, s in ipairs(scopes) do
  local stb = numOrNil(redis.call('HGET', stfold, s.name .. ':tb'))
  if stb and (not boundary or stb > boundary) then boundary = stb end
end
if boundary then
  if asOf < boundary then return { 4, boundary } end
  if from < boundary then from = boundary end
end

local function countWindow(f)
  local n = 0
  local lo, hi = '(' .. fmt(f), fmt(asOf)
  for _, k in ipairs(KINDS) do n = n + redis.call('ZCOUNT', KIND_KEYS[k], lo, hi) end
  for _, s in ipairs(scopes) do n = n + redis.call('ZCOUNT', s.key, lo, hi) end
  return n
end
while asOf - from > 60000 and countWindow(from) > cap do
  from = asOf - math.floor((asOf - from) / 2)
end
local fromS, asOfS = fmt(from), fmt(asOf)

-- newest member/score of a ZSET at or before ms (ties: greatest member, i.e. last in record order)
local function newestAtOrBefore(key, ms)
  local row = redis.call('ZREVRANGEBYSCORE', key, ms, '-inf', 'WITHSCORES', 'LIMIT', 0, 1)
  if #row == 0 then return nil, nil end
  return row[1], tonumber(row[2])
end

-- queue length at from: newest observation, plus arrivals minus starts minus abandonments after it
local len, since
local obs, obsT = newestAtOrBefore(KIND_KEYS.O, fromS)
if obs then
  len = tonumber(payloadOf(obs))
  since = '(' .. fmt(obsT)
else
  len = numOrNil(redis.call('HGET', meta, 'fLen')) or 0
  since = '-inf'
end
len = len + redis.call('ZCOUNT', KIND_KEYS.A, since, fromS) - redis.call('ZCOUNT', KIND_KEYS.S, since, fromS) - redis.call('ZCOUNT', KIND_KEYS.X, since, fromS)
if len < 0 then len = 0 end

local lanes = -1
local l = newestAtOrBefore(KIND_KEYS.L, fromS)
if l then
  lanes = tonumber(payloadOf(l))
else
  local fl = numOrNil(redis.call('HGET', meta, 'fLanes'))
  if fl then lanes = fl end
end

-- status at from: newest over the 4 scopes (kept records, then each scope's fold)
local stT, stM = -1, ''
local function consider(t, m)
  if t > stT or (t == stT and bytesLess(stM, m)) then stT, stM = t, m end
end
for _, s in ipairs(scopes) do
  local m, t = newestAtOrBefore(s.key, fromS)
  if m then
    consider(t, m)
  else
    local f = redis.call('HGET', stfold, s.name .. ':f')
    if f then
      local i = string.find(f, SEP, 1, true)
      consider(tonumber(string.sub(f, 1, i - 1)), string.sub(f, i + 1))
    end
  end
end

-- newest event time at or before asOf
local last = numOrNil(redis.call('HGET', meta, 'fMaxT')) or -1
for _, k in ipairs(KINDS) do
  local _, t = newestAtOrBefore(KIND_KEYS[k], asOfS)
  if t and t > last then last = t end
end
for _, s in ipairs(scopes) do
  local _, t = newestAtOrBefore(s.key, asOfS)
  if t and t > last then last = t end
  local f = redis.call('HGET', stfold, s.name .. ':f')
  if f then
    local ft = tonumber(string.sub(f, 1, string.find(f, SEP, 1, true) - 1))
    if ft <= asOf and ft > last then last = ft end
  end
end

-- Delta read (ARGV[8] = the asOf of the caller's cached window, only when reading as of the newest event): the
-- caller holds that window's records and, per kind, how many records the store held in a range (lo, cached asOf]
-- (ARGV[11..22]: lo, count for A S C X L O). Records are only ever added, except by a trim (which moves the queue's
-- fMaxT, ARGV[10] as the caller saw it) or lost data. So if no trim reached a counted range and every count still
-- holds, nothing was inserted below the cached asOf since, and only the records after it are returned. `lo` reaches
-- below the window for A and S: the oldest arrival (start) a cached service start (crossing) was paired with, or
-- -inf when one was paired with none, so a late arrival that would change a pairing changes a count. Otherwise,
-- or when the window start moved back (cached from, ARGV[9]), the whole window is returned.
local fMaxNow = redis.call('HGET', meta, 'fMaxT') or ''
local deltaFrom = nil
if ARGV[2] == '' and ARGV[8] and ARGV[8] ~= '' then
  local cAsOf, cFrom = tonumber(ARGV[8]), tonumber(ARGV[9])
  local ok = cAsOf <= asOf and from >= cFrom
  local trimmed = fMaxNow ~= ARGV[10]
  local cAsOfS = fmt(cAsOf)
  for i, k in ipairs(KINDS) do
    if not ok then break end
    local lo, want = ARGV[9 + 2 * i], tonumber(ARGV[10 + 2 * i])
    if trimmed and (lo == '-inf' or fMaxNow == '' or tonumber(lo) <= tonumber(fMaxNow)) then
      ok = false
    else
      ok = redis.call('ZCOUNT', KIND_KEYS[k], lo == '-inf' and lo or '(' .. lo, cAsOfS) == want
    end
  end
  if ok then deltaFrom = math.max(cAsOf, from) end
end

-- records in (from, asOf], or in (deltaFrom, asOf] for a delta read
local lowS = '(' .. (deltaFrom and fmt(deltaFrom) or fromS)
local rowsByKind = {}
for _, k in ipairs(KINDS) do rowsByKind[k] = redis.call('ZRANGEBYSCORE', KIND_KEYS[k], lowS, asOfS, 'WITHSCORES') end
local statusRecs = {}
for _, s in ipairs(scopes) do
  local rows = redis.call('ZRANGEBYSCORE', s.key, '(' .. fromS, asOfS, 'WITHSCORES')
  for i = 1, #rows, 2 do
    statusRecs[#statusRecs + 1] = rows[i + 1]
    statusRecs[#statusRecs + 1] = rows[i]
  end
end

-- `before` of each service start (crossing) with a ref: the time of the newest arrival (start) of the same ref at or
-- before it, or false when there is none. From the window's own records when one of them is that newest, else from
-- the lex index. The window's earlier arrivals (starts) are the befores at or before `from` (see the reply).
-- Per record this is the script's hot loop (a catch-up can read thousands of records): refs of the indexed kind map
-- to their row index (a list only for a ref seen twice), and a before found in the rows keeps the row's own score
-- text, so no number is formatted and no per-record table is built.
local function newestIndexed(ref, k, ms)
  local row = redis.call('ZREVRANGEBYLEX', vix, '(' .. ref .. '|' .. k .. '|' .. pad(ms) .. '|\255', '[' .. ref .. '|' .. k .. '|', 'LIMIT', 0, 1)
  if #row == 0 then return false end
  return tonumber(string.sub(row[1], #ref + 4, #ref + 18))
end
local sfind, ssub, tonum = string.find, string.sub, tonumber
-- returns, per row (by (i + 1) / 2) of the resolved kind that has a ref: the before as a number (false: none) and
-- as text ('' none); rows without a ref get nil in both
local function befores(resolvedKind, indexedKind)
  local inWindow = {} -- ref -> row index in idx, or a list of them (ascending) when the ref has several
  local idx = rowsByKind[indexedKind]
  for i = 1, #idx, 2 do
    local m = idx[i]
    local p = sfind(m, SEP, 1, true)
    if p and p < #m then
      local ref = ssub(m, p + 1)
      local l = inWindow[ref]
      if l == nil then
        inWindow[ref] = i
      elseif type(l) == 'number' then
        inWindow[ref] = { l, i }
      else
        l[#l + 1] = i
      end
    end
  end
  local num, txt = {}, {}
  local rows = rowsByKind[resolvedKind]
  for i = 1, #rows, 2 do
    local m = rows[i]
    local p = sfind(m, SEP, 1, true)
    if p and p < #m then
      local ref = ssub(m, p + 1)
      local t = tonum(rows[i + 1])
      local b, bt = nil, nil
      local l = inWindow[ref]
      if l ~= nil then
        if type(l) == 'number' then
          local lt = tonum(idx[l + 1])
          if lt <= t then b, bt = lt, idx[l + 1] end
        else
          for j = #l, 1, -1 do
            local lt = tonum(idx[l[j] + 1])
            if lt <= t then b, bt = lt, idx[l[j] + 1]; break end
          end
        end
      end
      if b == nil then
        b = newestIndexed(ref, indexedKind, t)
        bt = b and fmt(b) or ''
      end
      local j = (i + 1) / 2
      num[j] = b
      txt[j] = bt
    end
  end
  return num, txt
end
local beforeS, beforeSText = befores('S', 'A')
local beforeC, beforeCText = befores('C', 'S')

-- earlier arrivals / starts (full reads): in record order, a later one overwrites
local function earlier(resolvedKind, before)
  local out = {}
  if deltaFrom then return out end
  local rows = rowsByKind[resolvedKind]
  for i = 1, #rows, 2 do
    local b = before[(i + 1) / 2]
    if b and b <= from then
      out[#out + 1] = payloadOf(rows[i])
      out[#out + 1] = b
    end
  end
  return out
end

-- records as one string; service starts and crossings with a ref carry their `before` ('' for none) after a \31.
-- Built as one list of pieces joined once (no string per record).
local parts, np = {}, 0
for _, k in ipairs(KINDS) do
  local rows = rowsByKind[k]
  local bt = (k == 'S' and beforeSText) or (k == 'C' and beforeCText) or nil
  for i = 1, #rows, 2 do
    if np > 0 then
      np = np + 1
      parts[np] = '\30'
    end
    parts[np + 1] = k
    parts[np + 2] = rows[i + 1]
    parts[np + 3] = SEP
    parts[np + 4] = rows[i]
    np = np + 4
    if bt then
      local b = bt[(i + 1) / 2]
      if b then
        parts[np + 1] = SEP
        parts[np + 2] = b
        np = np + 2
      end
    end
  end
end

-- what the caller's next delta read checks: per kind, lo and the number of records in (lo, asOf]. lo is `from`,
-- lower for A and S: the oldest before of the window's service starts (crossings), of the returned ones and of the
-- caller's cached ones (ARGV[23] / ARGV[24]); -inf when one has no before at all (any earlier arrival would pair).
local function lowest(lo, before, text, rows, cached)
  if deltaFrom then
    if cached == '-inf' then return nil end
    if cached and cached ~= '' and tonumber(cached) < lo then lo = tonumber(cached) end
  end
  for i = 1, #rows, 2 do
    local j = (i + 1) / 2
    if text[j] then
      local b = before[j]
      if not b then return nil end
      if b < lo then lo = b end
    end
  end
  return lo
end
local los = { A = lowest(from, beforeS, beforeSText, rowsByKind.S, ARGV[23]), S = lowest(from, beforeC, beforeCText, rowsByKind.C, ARGV[24]), C = from, X = from, L = from, O = from }
local counts = { fMaxNow }
for _, k in ipairs(KINDS) do
  local lo = los[k]
  local loS = lo and fmt(lo) or '-inf'
  counts[#counts + 1] = loS
  counts[#counts + 1] = redis.call('ZCOUNT', KIND_KEYS[k], lo and '(' .. loS or '-inf', asOfS)
end

return { 0, asOf, from, len, lanes, last, stT, stM, earlier('S', beforeS), earlier('C', beforeC), table.concat(parts), statusRecs,
  deltaFrom and 1 or 0, counts }
