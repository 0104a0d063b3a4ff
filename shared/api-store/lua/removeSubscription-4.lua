--[[
  Delete a webhook subscription (and its delivery log) if the caller owns it.

  KEYS[1]  subscription hash
  KEYS[2]  index of every subscription
  KEYS[3]  index of the crossing's subscriptions
  KEYS[4]  delivery log of the subscription
  ARGV[1]  subscription id
  ARGV[2]  owner id of the caller, or '*' for an admin (may delete any)

  Returns 1 = deleted, 0 = no such subscription, -2 = owned by someone else (nothing changed)
]]
local json = redis.call('HGET', KEYS[1], 'json')
if not json then
  return 0
end
if ARGV[2] ~= '*' then
  local rec = cjson.decode(json)
  if rec['owner'] ~= ARGV[2] then
    return -2
  end
end
redis.call('DEL', KEYS[1], KEYS[4])
redis.call('SREM', KEYS[2], ARGV[1])
redis.call('SREM', KEYS[3], ARGV[1])
return 1
