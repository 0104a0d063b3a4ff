--[[
  Count one request against a fixed window and say whether it is allowed.
  The window starts with the first request of a client and lasts ARGV[2] ms; every instance of the API
  shares the counter, so the limit holds across instances.

  KEYS[1]  counter key (apiKeys.rateLimit)
  ARGV[1]  limit: requests allowed per window (> 0)
  ARGV[2]  window length in ms

  Returns { allowed, count, resetMs }
    allowed  1 = request allowed, 0 = over the limit (the counter is not incremented further)
    count    requests counted in the current window (including this one when allowed)
    resetMs  ms until the window ends
]]
local limit = tonumber(ARGV[1])
local windowMs = tonumber(ARGV[2])
local count = tonumber(redis.call('GET', KEYS[1]) or '0')
local ttl = redis.call('PTTL', KEYS[1])
if count >= limit and ttl > 0 then
  return { 0, count, ttl }
end
if ttl <= 0 then
  -- no window (or a key without expiry, which must never block a client forever): start a new one
  redis.call('SET', KEYS[1], 1, 'PX', windowMs)
  return { 1, 1, windowMs }
end
count = redis.call('INCR', KEYS[1])
return { 1, count, ttl }
