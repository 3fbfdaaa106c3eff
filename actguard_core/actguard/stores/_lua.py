"""The Lua scripts of :class:`actguard.RedisStore`: one script per operation, one round trip per check.

Every script touches one logical key (``KEYS[1]``; the spend scripts also its reservations and settled-operation
keys, which share its hash tag), so it runs on any Redis Cluster node owning that key's slot.
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
    "SPEND_RESERVE",
    "SPEND_SETTLE",
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

# Hash fields: s status, r result (an in-progress claim's owner), e expires_at.
# ARGV: offset, ttl, owner ('' for none) -> {status, result|nil, retry_after}
IDEM_CLAIM = (
    _NOW
    + """
local h = redis.call('HMGET', KEYS[1], 's', 'r', 'e')
if not h[3] or tonumber(h[3]) <= now then
  local ttl = tonumber(ARGV[2])
  redis.call('DEL', KEYS[1])
  redis.call('HSET', KEYS[1], 's', 'in_progress', 'r', ARGV[3], 'e', num(now + ttl))
  redis.call('PEXPIRE', KEYS[1], ms(ttl))
  return {'claimed', false, '0'}
end
if h[1] == 'in_progress' and ARGV[3] ~= '' and h[2] == ARGV[3] then return {'claimed', false, '0'} end
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

# Adds `usd` and `tokens` to KEYS[1] with `ttl` (nil for none), starting a new window when the old one ended.
# One read and one write (Lua adds; '%.17g' keeps every bit of the float) -> the new totals (usd as a string).
_SPEND_ADD_FN = """
local function spend_add(usd, tokens, ttl)
  local h = redis.call('HMGET', KEYS[1], 'u', 't', 'e')
  local u, t, e = tonumber(h[1]) or 0, tonumber(h[2]) or 0, h[3]
  if e and e ~= 'inf' and tonumber(e) <= now then u, t, e = 0, 0, false end
  u = u + usd
  t = t + tokens
  local us = string.format('%.17g', u)
  if e then
    redis.call('HSET', KEYS[1], 'u', us, 't', t)
  elseif not ttl then
    redis.call('HSET', KEYS[1], 'u', us, 't', t, 'e', 'inf')
  else
    redis.call('HSET', KEYS[1], 'u', us, 't', t, 'e', num(now + ttl))
    redis.call('PEXPIRE', KEYS[1], ms(ttl))
  end
  return us, t
end
"""

# Hash fields: u usd, t tokens, e expires_at ('inf' for never). ARGV: offset, usd, tokens, ttl ('' for none)
SPEND_ADD = (
    _NOW
    + _SPEND_ADD_FN
    + """
local ttl = nil
if ARGV[4] ~= '' then ttl = tonumber(ARGV[4]) end
local us, t = spend_add(tonumber(ARGV[2]), tonumber(ARGV[3]), ttl)
return {us, t}
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

# Live reservations of a spend key: KEYS[2], a hash op_id -> "usd tokens lease_until". Expired ones are dropped
# here, so a worker that died holding one blocks nothing once its lease ends. O(reservations in flight).
_HELD = """
local function held(skip)
  local usd, tokens, last = 0, 0, now
  local all = redis.call('HGETALL', KEYS[2])
  for i = 1, #all, 2 do
    local u, t, until_ = string.match(all[i + 1], '^(%S+) (%S+) (%S+)$')
    until_ = tonumber(until_)
    if until_ <= now or all[i] == skip then
      redis.call('HDEL', KEYS[2], all[i])
    else
      usd = usd + tonumber(u)
      tokens = tokens + tonumber(t)
      if until_ > last then last = until_ end
    end
  end
  return usd, tokens, last
end
"""

# KEYS: spend, reservations. ARGV: offset, op_id, "<usd> <tokens> <usd_limit> <token_limit> <lease>" (one argument:
# fewer for the client to encode; '-' for no limit) -> "<granted 0|1> <usd spent + reserved> <tokens spent + reserved>"
# (one string: a single bulk reply is cheaper to parse than an array)
SPEND_RESERVE = (
    _NOW
    + _HELD
    + """
local usd_s, tokens_s, usd_limit, token_limit, lease = string.match(ARGV[3], '^(%S+) (%S+) (%S+) (%S+) (%S+)$')
local usd, tokens = tonumber(usd_s), tonumber(tokens_s)
local h = redis.call('HMGET', KEYS[1], 'u', 't', 'e')
local su, st = 0, 0
if h[3] and (h[3] == 'inf' or tonumber(h[3]) > now) then su, st = tonumber(h[1]) or 0, tonumber(h[2]) or 0 end
local ru, rt, last = held(ARGV[2])
local total_usd, total_tokens = su + ru, st + rt
local function refused(total, amount, limit)
  if limit == '-' then return false end
  limit = tonumber(limit)
  return total + amount > limit or total >= limit
end
if refused(total_usd, usd, usd_limit) or refused(total_tokens, tokens, token_limit) then
  return string.format('0 %.6f %.0f', total_usd, total_tokens)
end
local until_ = now + tonumber(lease)
redis.call('HSET', KEYS[2], ARGV[2], usd_s .. ' ' .. tokens_s .. ' ' .. num(until_))
redis.call('PEXPIRE', KEYS[2], ms(math.max(until_, last) - now))
return string.format('1 %.6f %.0f', total_usd + usd, total_tokens + tokens)
"""
)

# KEYS: spend, reservations, settled (a sorted set op_id -> settled_at). ARGV: offset, op_id,
# "<usd> <tokens> <ttl> <max_settled>" (one argument; ttl '-' for none, max_settled '-' to skip trimming)
# -> "<usd> <tokens>". An op_id still in the settled set is not added again: a settle repeated after a timeout counts
# once. The set is trimmed to the newest `max_settled` and its expiry moved a day ahead (how long a settled op id
# is remembered) on the settles the client flags (a process's first on a key, then every 64th), so it stays bounded
# without paying two more commands on every settle.
SPEND_SETTLE = (
    _NOW
    + _SPEND_ADD_FN
    + """
local usd, tokens, ttl, trim = string.match(ARGV[3], '^(%S+) (%S+) (%S+) (%S+)$')
redis.call('HDEL', KEYS[2], ARGV[2])
if redis.call('ZADD', KEYS[3], 'NX', now, ARGV[2]) == 0 then  -- settled already: report, add nothing
  local h = redis.call('HMGET', KEYS[1], 'u', 't')
  return (h[1] or '0') .. ' ' .. string.format('%.0f', tonumber(h[2]) or 0)
end
if trim ~= '-' then  -- now and then (the client decides): keep the newest max_settled ids, refresh the expiry
  redis.call('ZREMRANGEBYRANK', KEYS[3], 0, -tonumber(trim) - 2)
  redis.call('PEXPIRE', KEYS[3], 86400000)
end
local us, t = spend_add(tonumber(usd), tonumber(tokens), ttl ~= '-' and tonumber(ttl) or nil)
return us .. ' ' .. string.format('%.0f', t)
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
