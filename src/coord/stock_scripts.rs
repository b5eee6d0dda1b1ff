//! The Lua scripts of the shared stock gate. Each runs atomically in Redis; every change bumps
//! the product's version and publishes `"<product> <available> <pending> <version>"`.
//! KEYS: 1 the counter, 2 the in-flight units per instance, 3 the version.
//! ARGV: 1 units, 2 instance, 3 channel, 4 product, 5 give back (1/0) or heartbeat prefix.

/// Lua: take ARGV[1] units for instance ARGV[2]; -2 unknown product, -1 not enough.
pub const TAKE: &str = r"
local s = redis.call('GET', KEYS[1])
if not s then return {-2, 0, 0, 0} end
s = tonumber(s)
local q = tonumber(ARGV[1])
local pending = 0
for _, v in ipairs(redis.call('HVALS', KEYS[2])) do pending = pending + tonumber(v) end
if s < q then return {-1, s, pending, tonumber(redis.call('GET', KEYS[3]) or '0')} end
s = redis.call('DECRBY', KEYS[1], q)
redis.call('HINCRBY', KEYS[2], ARGV[2], q)
local ver = redis.call('INCR', KEYS[3])
pending = pending + q
redis.call('PUBLISH', ARGV[3], ARGV[4] .. ' ' .. s .. ' ' .. pending .. ' ' .. ver)
return {1, s, pending, ver}
";

/// Lua: settle ARGV[1] in-flight units of instance ARGV[2]; ARGV[5] = 1 gives them back.
pub const SETTLE: &str = r"
local q = tonumber(ARGV[1])
local left = redis.call('HINCRBY', KEYS[2], ARGV[2], -q)
if left <= 0 then redis.call('HDEL', KEYS[2], ARGV[2]) end
if redis.call('EXISTS', KEYS[1]) == 0 then return {-2, 0, 0} end
local s = tonumber(redis.call('GET', KEYS[1]))
if ARGV[5] == '1' then s = redis.call('INCRBY', KEYS[1], q) end
local pending = 0
for _, v in ipairs(redis.call('HVALS', KEYS[2])) do pending = pending + tonumber(v) end
local ver = redis.call('INCR', KEYS[3])
redis.call('PUBLISH', ARGV[3], ARGV[4] .. ' ' .. s .. ' ' .. pending .. ' ' .. ver)
return {s, pending, ver}
";

/// Lua: add ARGV[1] committed units back (cancel, expiry, restock) when the counter exists.
pub const ADD: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then return {-2, 0, 0} end
local s = redis.call('INCRBY', KEYS[1], tonumber(ARGV[1]))
local pending = 0
for _, v in ipairs(redis.call('HVALS', KEYS[2])) do pending = pending + tonumber(v) end
local ver = redis.call('INCR', KEYS[3])
redis.call('PUBLISH', ARGV[3], ARGV[4] .. ' ' .. s .. ' ' .. pending .. ' ' .. ver)
return {s, pending, ver}
";

/// Lua: create the counter from the database's ARGV[1] unless it exists; publish when created.
pub const LOAD: &str = r"
if redis.call('SET', KEYS[1], ARGV[1], 'NX') then
  local ver = redis.call('INCR', KEYS[3])
  redis.call('PUBLISH', ARGV[3], ARGV[4] .. ' ' .. ARGV[1] .. ' 0 ' .. ver)
  return ver
end
return 0
";

/// Lua: reset the counter to the database's ARGV[1] if the version is still ARGV[2] and no live
/// instance has units in flight; in-flight units of dead instances (no heartbeat) are dropped.
pub const RECONCILE: &str = r"
local ver = tonumber(redis.call('GET', KEYS[3]) or '0')
if redis.call('EXISTS', KEYS[1]) == 1 and ver ~= tonumber(ARGV[2]) then return -1 end
local flat = redis.call('HGETALL', KEYS[2])
for i = 1, #flat, 2 do
  if redis.call('EXISTS', ARGV[5] .. flat[i]) == 1 then
    if tonumber(flat[i + 1]) ~= 0 then return -2 end
  else
    redis.call('HDEL', KEYS[2], flat[i])
  end
end
local s = tonumber(ARGV[1])
redis.call('SET', KEYS[1], s)
ver = redis.call('INCR', KEYS[3])
redis.call('PUBLISH', ARGV[3], ARGV[4] .. ' ' .. s .. ' 0 ' .. ver)
return ver
";
