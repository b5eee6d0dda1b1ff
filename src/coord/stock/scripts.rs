//! The Lua scripts of the shared stock gate. Each runs atomically in Redis and touches only the
//! keys of one product, all declared and sharing one hash tag (one Redis Cluster slot):
//! KEYS: 1 the counter, 2 the units in flight (field `<instance>|<request>` → units), 3 the
//! change version, 4 the database versions the counter reflects (`base`: the stock version it
//! was last reset to; `seen`: the newest stock version applied to it).
//! Every change bumps the change version and publishes `"<product> <available> <pending> <version>"`.
//! A new counter's change version starts at Redis' clock in microseconds, so it is above any
//! version a lost counter ever published and mirrors never ignore it.
//!
//! Lua numbers are doubles: concatenated, one above 10^14 prints in exponent form, and one above
//! 2^53 loses digits. The version therefore never passes through a Lua number: it is read back
//! as Redis' own decimal text after INCR, published and answered as that text, and compared as
//! text. Counts (units) are printed with `%d`.

/// Shared by the scripts: the units in flight.
const PENDING: &str = r"
local function pending()
  local n = 0
  for _, v in ipairs(redis.call('HVALS', KEYS[2])) do n = n + tonumber(v) end
  return n
end
local function int(n) return string.format('%d', n) end
local function current_ver() return redis.call('GET', KEYS[3]) or '0' end
local function publish(s)
  redis.call('INCR', KEYS[3])
  local ver = current_ver()
  redis.call('PUBLISH', ARGV[3], ARGV[4] .. ' ' .. int(s) .. ' ' .. int(pending()) .. ' ' .. ver)
  return ver
end
local function seed_ver()
  local t = redis.call('TIME')
  local start = t[1] .. string.format('%06d', tonumber(t[2]))
  local cur = current_ver()
  if #cur < #start or (#cur == #start and cur < start) then redis.call('SET', KEYS[3], start) end
end
local function seen(v)
  if v > tonumber(redis.call('HGET', KEYS[4], 'seen') or '0') then
    redis.call('HSET', KEYS[4], 'seen', v)
  end
end
";

/// Builds a script from the shared prelude and its body.
fn with_prelude(body: &str) -> String {
    format!("{PENDING}{body}")
}

/// Lua: take ARGV[1] units for request ARGV[2]. -2 unknown product, -1 not enough; a request
/// already holding units answers 1 again and takes nothing more.
/// Returns {code, available, pending, version}.
pub fn take() -> String {
    with_prelude(
        r"
local s = redis.call('GET', KEYS[1])
if not s then return {-2, 0, 0, 0} end
s = tonumber(s)
if redis.call('HEXISTS', KEYS[2], ARGV[2]) == 1 then return {1, s, pending(), current_ver()} end
local q = tonumber(ARGV[1])
if s < q then return {-1, s, pending(), current_ver()} end
s = redis.call('DECRBY', KEYS[1], q)
redis.call('HSET', KEYS[2], ARGV[2], q)
local ver = publish(s)
return {1, s, pending(), ver}
",
    )
}

/// Lua: settle request ARGV[1]'s units: ARGV[2] = 1 gives them back, 0 keeps them taken (the
/// database committed them at stock version ARGV[5]). An unknown request (settled already, or
/// dropped by reconciliation) changes nothing: -3. Returns {available, pending, version}.
pub fn settle() -> String {
    with_prelude(
        r"
local q = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0')
if q == 0 then return {-3, 0, 0} end
redis.call('HDEL', KEYS[2], ARGV[1])
if redis.call('EXISTS', KEYS[1]) == 0 then return {-2, 0, 0} end
local s = tonumber(redis.call('GET', KEYS[1]))
if ARGV[2] == '1' then
  s = redis.call('INCRBY', KEYS[1], q)
else
  seen(tonumber(ARGV[5]))
end
local ver = publish(s)
return {s, pending(), ver}
",
    )
}

/// Lua: add ARGV[1] units that a database change at stock version ARGV[2] gave back (cancel,
/// expiry, restock). Skipped when the counter was reset from a database figure that already
/// holds that change (version <= base). -2 when there is no counter.
/// Returns {available, pending, version, applied}.
pub fn add() -> String {
    with_prelude(
        r"
if redis.call('EXISTS', KEYS[1]) == 0 then return {-2, 0, 0, 0} end
local v = tonumber(ARGV[2])
local s = tonumber(redis.call('GET', KEYS[1]))
if v <= tonumber(redis.call('HGET', KEYS[4], 'base') or '0') then
  return {s, pending(), current_ver(), 0}
end
s = redis.call('INCRBY', KEYS[1], tonumber(ARGV[1]))
seen(v)
local ver = publish(s)
return {s, pending(), ver, 1}
",
    )
}

/// Lua: create the counter from the database's ARGV[1] units at stock version ARGV[2] unless it
/// exists. Returns {created (1/0), available, pending, version, seen}.
pub fn load() -> String {
    with_prelude(
        r"
local s = redis.call('GET', KEYS[1])
if s then
  return {0, tonumber(s), pending(), current_ver(),
    tonumber(redis.call('HGET', KEYS[4], 'seen') or '0')}
end
seed_ver()
redis.call('DEL', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[4], 'base', ARGV[2], 'seen', ARGV[2])
local ver = publish(ARGV[1])
return {1, tonumber(ARGV[1]), 0, ver, tonumber(ARGV[2])}
",
    )
}

/// Lua: reconcile the counter with the database's ARGV[1] units at stock version ARGV[2], read
/// after the change version was ARGV[5]. ARGV[6..] are the live instances.
/// - In-flight units of instances that are not live are dropped, whatever else is found.
/// - If the change version moved since, nothing else happens (-1).
/// - A counter that has seen a newer stock version than the database holds describes a future
///   the database never saw (another database, a restore): it is rebuilt at once (2).
/// - Otherwise, with units still in flight on a live instance, nothing happens (-2); else the
///   counter is reset to the database's figure (1), or confirmed when it already agrees (0).
pub fn reconcile() -> String {
    with_prelude(
        r"
local live = {}
for i = 6, #ARGV do live[ARGV[i]] = true end
local flat = redis.call('HGETALL', KEYS[2])
local busy = false
for i = 1, #flat, 2 do
  local owner = string.match(flat[i], '^(.*)|') or flat[i]
  if live[owner] then busy = true else redis.call('HDEL', KEYS[2], flat[i]) end
end
if current_ver() ~= ARGV[5] then return -1 end
local db, v = tonumber(ARGV[1]), tonumber(ARGV[2])
local ahead = tonumber(redis.call('HGET', KEYS[4], 'seen') or '0') > v
if ahead then
  redis.call('DEL', KEYS[2])
elseif busy then
  return -2
end
local s = tonumber(redis.call('GET', KEYS[1]) or '-1')
if s == -1 then seed_ver() end
redis.call('HSET', KEYS[4], 'base', v, 'seen', v)
if s == db and not ahead then return 0 end
redis.call('SET', KEYS[1], db)
publish(db)
if ahead then return 2 end
return 1
",
    )
}

/// Lua: KEYS[1] is the sorted set of instances by heartbeat expiry (ms, Redis clock), KEYS[2]
/// the doubt marker (same hash tag). Renews ARGV[1] for ARGV[2] ms and forgets instances dead
/// for an hour. ARGV[3] is 1 for the first heartbeat of this run of the instance.
/// This instance's own heartbeat found missing or lapsed after its first shows that the set
/// lost heartbeats of live instances too (Redis restarted empty, or could not be reached for
/// longer than a heartbeat lasts): the doubt marker is set for ARGV[2] ms, during which every
/// live instance renews its heartbeat and nobody is taken for dead. Returns {now, verdict}:
/// 1 when it set the marker; 2 when a first heartbeat found the set empty (it keeps dead
/// instances for an hour, so only a Redis that lost its data, or a deployment's very first
/// start, has none), which leaves this instance in doubt (the others, if alive, set the
/// marker at their next heartbeat); else 0.
pub const HEARTBEAT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local mine = redis.call('ZSCORE', KEYS[1], ARGV[1])
local verdict = 0
if ARGV[3] ~= '1' and (not mine or tonumber(mine) <= now) then
  redis.call('SET', KEYS[2], now, 'PX', tonumber(ARGV[2]))
  verdict = 1
elseif ARGV[3] == '1' and redis.call('ZCARD', KEYS[1]) == 0 then
  verdict = 2
end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - 3600000)
return {now, verdict}
";

/// Lua: the instances whose heartbeat has not lapsed (KEYS[1] as for [`HEARTBEAT`]).
pub const LIVE: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
return redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, '+inf')
";

/// Lua: whether the heartbeats can tell a dead instance (KEYS as for [`HEARTBEAT`]; ARGV[1]
/// the asking instance). Answers `known` and the live instances, or `doubt` alone while the
/// doubt marker stands or while the asker's own heartbeat is missing or lapsed (which shows
/// that the set lost heartbeats of live instances too).
pub const VERDICT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local mine = redis.call('ZSCORE', KEYS[1], ARGV[1])
if redis.call('EXISTS', KEYS[2]) == 1 or not mine or tonumber(mine) <= now then
  return {'doubt'}
end
local live = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, '+inf')
table.insert(live, 1, 'known')
return live
";

/// Lua: the readiness probe of the notification schedule: reads its keys (KEYS[1] the
/// schedule, KEYS[2] its log; one hash tag), changes nothing.
pub const SCHEDULE_PROBE: &str = r"
return redis.call('EXISTS', KEYS[1], KEYS[2])
";
