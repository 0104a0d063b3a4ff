--[[
  Append one delivery attempt to a subscription's capped delivery log (newest first).

  KEYS[1]  delivery log (apiKeys.deliveryLog(subscriptionId))
  ARGV[1]  attempt record, JSON
  ARGV[2]  maximum number of entries kept
  ARGV[3]  log TTL in ms (refreshed on every attempt)

  Returns the log length after trimming
]]
redis.call('LPUSH', KEYS[1], ARGV[1])
redis.call('LTRIM', KEYS[1], 0, tonumber(ARGV[2]) - 1)
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3]))
return redis.call('LLEN', KEYS[1])
