"""The Lua scripts of the Redis budget: each step one round trip, atomic on the server.

Keys, all under one hash tag so that Redis Cluster keeps them in one slot:

* ``leases``  sorted set: lease id -> expiry (ms, Redis's clock); a lease id is
  ``<process id>:<n>``. Expired leases are permits given back by a process that died.
* ``state``   hash: ``limit`` (the shared adaptive in-flight limit), ``ceiling``
  (where the last 429 came), ``epoch`` (bumped at each cut), ``consecutive``
  (429s in a row), ``seq`` (lease numbers).
* ``cooldown`` string with a TTL: while it exists, nobody sends (after a 429).
* ``waiting`` sorted set: process id -> when it last asked and was refused.
* ``held``    hash: process id -> leases it holds.
* ``pace``    string: when (µs, Redis's clock) the next request may go, for the rate.

Times come from Redis (``TIME``), never from the hosts, whose clocks may differ.
Only Redis 6.2 commands are used.
"""

from __future__ import annotations

__all__ = ["ACQUIRE", "PACE", "RELEASE", "RENEW"]

_NOW = """
redis.replicate_commands()
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

#: KEYS: leases, state, cooldown, waiting, held.
#: ARGV: process id, permits wanted, lease ttl (ms), cap, stale waiter age (ms).
#: Returns {granted, epoch, wait hint (ms, -1: none), the shared limit, lease ids...}.
ACQUIRE = (
    _NOW
    + """
local pid = ARGV[1]
local want = tonumber(ARGV[2])
local ttl = tonumber(ARGV[3])
local cap = tonumber(ARGV[4])
local epoch = tonumber(redis.call('HGET', KEYS[2], 'epoch') or '0')
-- Leases past their expiry: their process died or hung; the permits come back.
local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)
for _, lease in ipairs(expired) do
  local owner = string.match(lease, '^(.*):[^:]*$')
  if owner and redis.call('HINCRBY', KEYS[5], owner, -1) <= 0 then
    redis.call('HDEL', KEYS[5], owner)
  end
end
if #expired > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
end
redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now - tonumber(ARGV[5]))
local limit = tonumber(redis.call('HGET', KEYS[2], 'limit') or cap)
if limit > cap then
  limit = cap
end
local pause = redis.call('PTTL', KEYS[3])
if pause > 0 then
  redis.call('ZADD', KEYS[4], now, pid)
  return {0, epoch, pause, math.floor(limit)}
end
local free = math.floor(limit) - redis.call('ZCARD', KEYS[1])
local grant = math.min(want, free)
-- Fairness: while other processes wait, nobody takes more than an equal share.
local others = redis.call('ZCARD', KEYS[4])
if redis.call('ZSCORE', KEYS[4], pid) then
  others = others - 1
end
if others > 0 and grant > 0 then
  local share = math.max(1, math.floor(limit / (others + 1)))
  local held = tonumber(redis.call('HGET', KEYS[5], pid) or '0')
  grant = math.min(grant, share - held)
end
if grant <= 0 then
  redis.call('ZADD', KEYS[4], now, pid)
  return {0, epoch, -1, math.floor(limit)}
end
local last = redis.call('HINCRBY', KEYS[2], 'seq', grant)
local result = {grant, epoch, -1, math.floor(limit)}
for i = 1, grant do
  local id = pid .. ':' .. (last - grant + i)
  redis.call('ZADD', KEYS[1], now + ttl, id)
  result[#result + 1] = id
end
redis.call('HINCRBY', KEYS[5], pid, grant)
if grant < want then
  redis.call('ZADD', KEYS[4], now, pid)
else
  redis.call('ZREM', KEYS[4], pid)
end
return result
"""
)

#: KEYS: leases, state, cooldown, held.
#: ARGV: lease id, process id, HTTP status (0: no answer), epoch at acquire, cap,
#: pause base (ms), max pause (ms), server-asked wait (ms, 0: none).
#: Returns 1 if the lease was still held, 0 if it had expired.
RELEASE = (
    _NOW
    + """
local removed = redis.call('ZREM', KEYS[1], ARGV[1])
if removed == 1 and redis.call('HINCRBY', KEYS[4], ARGV[2], -1) <= 0 then
  redis.call('HDEL', KEYS[4], ARGV[2])
end
local status = tonumber(ARGV[3])
local cap = tonumber(ARGV[5])
if status == 429 then
  local epoch = tonumber(redis.call('HGET', KEYS[2], 'epoch') or '0')
  local consecutive = redis.call('HINCRBY', KEYS[2], 'consecutive', 1)
  if tonumber(ARGV[4]) == epoch then
    -- A 429 to a request sent since the last cut: cut once, from what the server took.
    local limit = tonumber(redis.call('HGET', KEYS[2], 'limit') or cap)
    local ceiling = math.max(1, redis.call('ZCARD', KEYS[1]))
    local cut = math.max(1, math.min(limit, ceiling) * 0.8)
    redis.call('HSET', KEYS[2], 'limit', tostring(cut), 'ceiling', tostring(ceiling),
      'epoch', epoch + 1)
  end
  local pause = tonumber(ARGV[6]) * 2 ^ math.min(consecutive - 1, 16)
  pause = math.floor(math.min(tonumber(ARGV[7]), math.max(pause, tonumber(ARGV[8]))))
  if pause > 0 and pause > redis.call('PTTL', KEYS[3]) then
    redis.call('SET', KEYS[3], '1', 'PX', pause)
  end
elseif status > 0 then
  redis.call('HSET', KEYS[2], 'consecutive', 0)
  local limit = tonumber(redis.call('HGET', KEYS[2], 'limit') or cap)
  if limit < cap then
    -- Additive increase, for every process at once; slowly above the last 429.
    local ceiling = tonumber(redis.call('HGET', KEYS[2], 'ceiling') or cap)
    local step = 1 / limit
    if limit >= ceiling then
      step = step / 50
    end
    redis.call('HSET', KEYS[2], 'limit', tostring(math.min(cap, limit + step)))
  end
end
return removed
"""
)

#: KEYS: leases. ARGV: lease ttl (ms), lease ids... Pushes the expiry of held leases.
RENEW = (
    _NOW
    + """
local renewed = 0
for i = 2, #ARGV do
  renewed = renewed + redis.call('ZADD', KEYS[1], 'XX', 'CH', now + tonumber(ARGV[1]), ARGV[i])
end
return renewed
"""
)

#: KEYS: pace. ARGV: microseconds between two requests.
#: Reserves the next send slot of the shared rate (GCRA, evenly spaced, no bursts);
#: returns how many microseconds to wait before sending.
PACE = """
redis.replicate_commands()
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local slot = tonumber(redis.call('GET', KEYS[1]) or '0')
if slot < now then
  slot = now
end
local interval = tonumber(ARGV[1])
redis.call('SET', KEYS[1], string.format('%.0f', slot + interval), 'PX',
  math.floor((slot + interval - now) / 1000) + 1000)
return slot - now
"""
