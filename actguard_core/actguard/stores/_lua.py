"""The Lua scripts of :class:`actguard.RedisStore`: one script per operation, one round trip per check.

Every script touches exactly one key (``KEYS[1]``), so it runs on any Redis Cluster node owning that key's slot.
Time is the server's (``TIME``) plus ``ARGV[1]``, an offset in seconds that is always 0 outside actguard's own tests.
Decisions compare timestamps stored in the key, never the key's TTL, so they are exact; the TTLs (PEXPIRE) only
make Redis reclaim the memory of keys nobody touches any more.
Floats travel back as strings: Redis truncates Lua numbers to integers in replies (numbers passed *to*
``redis.call`` keep full precision).
"""

from __future__ import annotations

__all__ = [
    "BREAKER_ACQUIRE",
    "BREAKER_RECORD",
    "BREAKER_SNAPSHOT",
    "FACTS_ADD",
    "FACTS_MISSING",
    "HIT_WINDOW",
    "IDEM_CLAIM",
    "IDEM_SET",
    "INCR",
    "LOOP_OBSERVE",
    "SPEND_ADD",
    "SPEND_GET",
]

_NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000 + tonumber(ARGV[1])
local function ms(seconds) return math.max(1, math.ceil(seconds * 1000)) end
local function num(seconds) return string.format('%.6f', seconds) end
"""

# The sliding-window log as a list, newest hit at the head: expired hits are popped from the tail (each once, so
# O(1) amortised), LLEN is then the exact count, and only admitted hits are pushed, so it never exceeds the limit.
# ARGV: offset, limit, period -> admitted: the count (an integer); refused: "<count> <retry_after>" (a string)
HIT_WINDOW = (
    _NOW
    + """
local limit = tonumber(ARGV[2])
local period = tonumber(ARGV[3])
local start = now - period
local oldest = redis.call('LINDEX', KEYS[1], -1)
if oldest and tonumber(oldest) <= start then
  if tonumber(redis.call('LINDEX', KEYS[1], 0)) <= start then
    redis.call('DEL', KEYS[1])
    oldest = false
  else
    repeat
      redis.call('RPOP', KEYS[1])
      oldest = redis.call('LINDEX', KEYS[1], -1)
    until not oldest or tonumber(oldest) > start
  end
end
local n = oldest and redis.call('LLEN', KEYS[1]) or 0
if n >= limit then
  if n > limit then oldest = redis.call('LINDEX', KEYS[1], limit - n - 1) end
  return n .. ' ' .. num(math.max(tonumber(oldest) + period - now, 0))
end
redis.call('LPUSH', KEYS[1], now)
redis.call('PEXPIRE', KEYS[1], ms(period))
return n + 1
"""
)

# Hash fields: f failures, o opened_at, p probe_at.
# ARGV: offset, reset_timeout -> {allowed, probe, retry_after, failures}
BREAKER_ACQUIRE = (
    _NOW
    + """
local s = redis.call('HMGET', KEYS[1], 'f', 'o', 'p')
local f = tonumber(s[1]) or 0
if not s[2] then return {1, 0, '0', f} end
local reset = tonumber(ARGV[2])
local remaining = tonumber(s[2]) + reset - now
local lease = 0
if s[3] then lease = tonumber(s[3]) + reset - now end
if remaining > 0 or lease > 0 then return {0, 0, num(math.max(remaining, lease, 0)), f} end
redis.call('HSET', KEYS[1], 'p', num(now))
return {1, 1, '0', f}
"""
)

# ARGV: offset, success 0|1, probe 0|1, max_fails, reset_timeout, idle -> {state, failures, retry_after}
BREAKER_RECORD = (
    _NOW
    + """
if ARGV[2] == '1' then
  redis.call('DEL', KEYS[1])
  return {'closed', 0, '0'}
end
local reset = tonumber(ARGV[5])
local f = redis.call('HINCRBY', KEYS[1], 'f', 1)
local o = redis.call('HGET', KEYS[1], 'o')
if ARGV[3] == '1' then redis.call('HDEL', KEYS[1], 'p') end
if ARGV[3] == '1' or (not o and f >= tonumber(ARGV[4])) then
  o = num(now)
  redis.call('HSET', KEYS[1], 'o', o)
end
redis.call('PEXPIRE', KEYS[1], ms(reset + tonumber(ARGV[6])))
if not o then return {'closed', f, '0'} end
return {'open', f, num(math.max(tonumber(o) + reset - now, 0))}
"""
)

# ARGV: offset, reset_timeout -> {state, failures, retry_after}
BREAKER_SNAPSHOT = (
    _NOW
    + """
local s = redis.call('HMGET', KEYS[1], 'f', 'o')
local f = tonumber(s[1]) or 0
if not s[2] then return {'closed', f, '0'} end
local remaining = tonumber(s[2]) + tonumber(ARGV[2]) - now
if remaining > 0 then return {'open', f, num(remaining)} end
return {'half_open', f, '0'}
"""
)

# Hash fields: v value, e expires_at. ARGV: offset, ttl -> value
INCR = (
    _NOW
    + """
local e = redis.call('HGET', KEYS[1], 'e')
if not e or tonumber(e) <= now then
  local ttl = tonumber(ARGV[2])
  redis.call('HSET', KEYS[1], 'v', 1, 'e', num(now + ttl))
  redis.call('PEXPIRE', KEYS[1], ms(ttl))
  return 1
end
return redis.call('HINCRBY', KEYS[1], 'v', 1)
"""
)

# Hash fields: s status, r result, e expires_at. ARGV: offset, ttl -> {status, result|nil, retry_after}
IDEM_CLAIM = (
    _NOW
    + """
local h = redis.call('HMGET', KEYS[1], 's', 'r', 'e')
if not h[3] or tonumber(h[3]) <= now then
  local ttl = tonumber(ARGV[2])
  redis.call('DEL', KEYS[1])
  redis.call('HSET', KEYS[1], 's', 'in_progress', 'e', num(now + ttl))
  redis.call('PEXPIRE', KEYS[1], ms(ttl))
  return {'claimed', false, '0'}
end
if h[1] == 'done' then return {'done', h[2], '0'} end
if h[1] == 'unknown' then return {'unknown', false, num(tonumber(h[3]) - now)} end
return {'in_progress', false, '0'}
"""
)

# ARGV: offset, ttl, status, result ('' for none)
IDEM_SET = (
    _NOW
    + """
local ttl = tonumber(ARGV[2])
redis.call('DEL', KEYS[1])
if ARGV[3] == 'done' then
  redis.call('HSET', KEYS[1], 's', 'done', 'r', ARGV[4], 'e', num(now + ttl))
else
  redis.call('HSET', KEYS[1], 's', ARGV[3], 'e', num(now + ttl))
end
redis.call('PEXPIRE', KEYS[1], ms(ttl))
return 1
"""
)

# One sorted set per namespace: member = fact, score = expires_at.
# ARGV: offset, ttl, max_facts, member... -> 1
FACTS_ADD = (
    _NOW
    + """
local ttl = tonumber(ARGV[2])
local exp = num(now + ttl)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', num(now))
local batch = {}
for i = 4, #ARGV do
  batch[#batch + 1] = exp
  batch[#batch + 1] = ARGV[i]
  if #batch >= 1000 then
    redis.call('ZADD', KEYS[1], unpack(batch))
    batch = {}
  end
end
if #batch > 0 then redis.call('ZADD', KEYS[1], unpack(batch)) end
local n = redis.call('ZCARD', KEYS[1])
local max = tonumber(ARGV[3])
if n > max then redis.call('ZPOPMIN', KEYS[1], n - max) end
if redis.call('PTTL', KEYS[1]) < ms(ttl) then redis.call('PEXPIRE', KEYS[1], ms(ttl)) end
return 1
"""
)

# ARGV: offset, member... -> 1-based indexes of the members not (or no longer) present
FACTS_MISSING = (
    _NOW
    + """
local missing = {}
for i = 2, #ARGV do
  local score = redis.call('ZSCORE', KEYS[1], ARGV[i])
  if not score or tonumber(score) <= now then missing[#missing + 1] = i - 1 end
end
return missing
"""
)

# Hash fields: u usd, t tokens, e expires_at ('inf' for never). ARGV: offset, usd, tokens, ttl ('' for none)
SPEND_ADD = (
    _NOW
    + """
local e = redis.call('HGET', KEYS[1], 'e')
if e and e ~= 'inf' and tonumber(e) <= now then
  redis.call('DEL', KEYS[1])
  e = false
end
if not e then
  if ARGV[4] == '' then
    redis.call('HSET', KEYS[1], 'e', 'inf')
  else
    local ttl = tonumber(ARGV[4])
    redis.call('HSET', KEYS[1], 'e', num(now + ttl))
    redis.call('PEXPIRE', KEYS[1], ms(ttl))
  end
end
local usd = redis.call('HINCRBYFLOAT', KEYS[1], 'u', ARGV[2])
local tokens = redis.call('HINCRBY', KEYS[1], 't', ARGV[3])
return {usd, tokens}
"""
)

# ARGV: offset -> {usd, tokens}
SPEND_GET = (
    _NOW
    + """
local h = redis.call('HMGET', KEYS[1], 'u', 't', 'e')
if not h[3] or (h[3] ~= 'inf' and tonumber(h[3]) <= now) then return {'0', 0} end
return {h[1] or '0', tonumber(h[2]) or 0}
"""
)

# loop_guard's record of one run. Hash fields: e expires_at, r the recent calls (a JSON array), c:<entry> each call's
# count. ARGV: offset, ttl, entry, stored (how many recent calls to keep), keep (how many to return)
# -> {count, recent...} (count alone for a first call)
LOOP_OBSERVE = (
    _NOW
    + """
local e = redis.call('HGET', KEYS[1], 'e')
local recent = {}
if not e or tonumber(e) <= now then
  local ttl = tonumber(ARGV[2])
  redis.call('DEL', KEYS[1])
  redis.call('HSET', KEYS[1], 'e', num(now + ttl))
  redis.call('PEXPIRE', KEYS[1], ms(ttl))
else
  recent = cjson.decode(redis.call('HGET', KEYS[1], 'r'))
end
local count = redis.call('HINCRBY', KEYS[1], 'c:' .. ARGV[3], 1)
recent[#recent + 1] = ARGV[3]
local stored = tonumber(ARGV[4])
while #recent > stored do table.remove(recent, 1) end
redis.call('HSET', KEYS[1], 'r', cjson.encode(recent))
local out = {count}
if count == 1 then return out end
for i = math.max(1, #recent - tonumber(ARGV[5]) + 1), #recent do out[#out + 1] = recent[i] end
return out
"""
)
