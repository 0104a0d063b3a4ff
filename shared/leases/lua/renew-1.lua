--[[
  renew: extends a lease only if the caller still owns it (a lease that expired and was taken over stays with
  the new owner).

  KEYS[1] lease  STRING value = owner instance id, with a PX expiry

  ARGV[1] owner instance id  ARGV[2] ttl ms

  Returns 1 renewed | 0 not the owner (expired, taken over or released)
]]
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
