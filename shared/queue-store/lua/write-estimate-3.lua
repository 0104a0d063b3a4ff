--[[
  write-estimate: stores the latest published estimate of a queue with a revision that only increases, and
  records it in the history bucket of its asOf. An estimate older (by asOf, event time) than the stored one is
  not written, so a slow writer cannot move the published state backwards. A cold-start seed (mode 'seed') is
  written only when the queue has no estimate, and any published estimate replaces a seed whatever its asOf
  (a seed is "as of" the wall clock at boot, while a replay publishes older event times).

  KEYS[1] est   HASH json (estimate without revision), asOfMs, revision, seed ('1' for a cold-start seed)
  KEYS[2] hist  HASH history buckets; sets "<bucket>:e" = summary (not for seeds)
  KEYS[3] hest  ZSET bucket starts with an estimate

  ARGV[1] estimate JSON  ARGV[2] asOfMs  ARGV[3] bucket ms  ARGV[4] bucket summary JSON  ARGV[5] mode 'publish' | 'seed'
  ARGV[6] revision floor: the new revision is above it (after Redis lost its data, the last published revision)

  Returns {0, revision} written | {1, revision} not written (older than the stored estimate, or seed over an existing one)
]]
-- @include "common"

local asOf = tonumber(ARGV[2])
local bucketMs = tonumber(ARGV[3])
local seed = ARGV[5] == 'seed'
local cur = redis.call('HMGET', KEYS[1], 'asOfMs', 'revision', 'seed')
local curAsOf = numOrNil(cur[1])
local rev = numOrNil(cur[2]) or 0
if seed and curAsOf then return { 1, rev } end
if curAsOf and cur[3] ~= '1' and asOf < curAsOf then return { 1, rev } end
rev = math.max(rev, tonumber(ARGV[6]) or 0) + 1
redis.call('HSET', KEYS[1], 'json', ARGV[1], 'asOfMs', fmt(asOf), 'revision', fmt(rev), 'seed', seed and '1' or '0')
if not seed then
  local b = fmt(math.floor(asOf / bucketMs) * bucketMs)
  redis.call('HSET', KEYS[2], b .. ':e', ARGV[4])
  redis.call('ZADD', KEYS[3], b, b)
end
return { 0, rev }
