--[[
  Store a new webhook subscription and index it by crossing.

  KEYS[1]  subscription hash (apiKeys.subscription(id))
  KEYS[2]  index of every subscription (apiKeys.subscriptionIndex())
  KEYS[3]  index of the crossing's subscriptions (apiKeys.subscriptionsOfCrossing(crossingId))
  ARGV[1]  subscription id
  ARGV[2]  subscription record, JSON

  Returns 1 = created, -1 = the id already exists (nothing changed)
]]
if redis.call('EXISTS', KEYS[1]) == 1 then
  return -1
end
redis.call('HSET', KEYS[1], 'json', ARGV[2])
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('SADD', KEYS[3], ARGV[1])
return 1
