--[[
  heartbeat: announces one instance as alive until server time + ttl, forgets instances whose announcement expired,
  and returns the live instance ids (sorted by Redis: lexicographic). Server time (TIME), so instances with skewed
  clocks agree on who is alive.

  KEYS[1] instances  ZSET member = instance id, score = expiry (ms, Redis server time)

  ARGV[1] instance id  ARGV[2] ttl ms  ARGV[3] '1' to announce, '0' to leave (remove this instance)

  Returns the live instance ids (array of strings).
]]
local t = redis.call('TIME')
local nowMs = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', nowMs)
if ARGV[3] == '1' then
  redis.call('ZADD', KEYS[1], nowMs + tonumber(ARGV[2]), ARGV[1])
else
  redis.call('ZREM', KEYS[1], ARGV[1])
end
redis.call('PEXPIRE', KEYS[1], math.max(tonumber(ARGV[2]) * 10, 60000))
return redis.call('ZRANGE', KEYS[1], 0, -1)
