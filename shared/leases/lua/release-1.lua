--[[
  release: deletes a lease only if the caller owns it, so a slow instance never frees a lease another one took.

  KEYS[1] lease  STRING value = owner instance id

  ARGV[1] owner instance id

  Returns 1 released | 0 not the owner
]]
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
