-- GCRA for one key, both policies (quota and burst); mirrors decide() in
-- ratelimit.go. Times are microseconds from the Redis server's TIME, so
-- every instance sharing this Redis uses one clock.
-- KEYS[1]: hash {q = quota TAT, b = burst TAT}
-- ARGV: quota T, quota C (0 = unlimited), burst T, burst C, spend (1 or 0)
-- Returns {allowed (1/0), now, old quota TAT, old burst TAT}.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local st = redis.call('HMGET', KEYS[1], 'q', 'b')
local tq = tonumber(st[1]) or 0
local tb = tonumber(st[2]) or 0
local qt, qc = tonumber(ARGV[1]), tonumber(ARGV[2])
local bt, bc = tonumber(ARGV[3]), tonumber(ARGV[4])
local retry = math.max(now, tb + bt - bc * bt)
if qc > 0 then
  retry = math.max(retry, tq + qt - qc * qt)
end
local allowed = 0
if retry <= now then
  allowed = 1
end
if allowed == 1 and ARGV[5] == '1' then
  local nb = math.max(tb, now) + bt
  local nq = tq
  if qc > 0 then
    nq = math.max(tq, now) + qt
  end
  redis.call('HSET', KEYS[1], 'q', string.format('%d', nq), 'b', string.format('%d', nb))
  redis.call('PEXPIRE', KEYS[1], math.floor((math.max(nq, nb) - now) / 1000) + 1)
end
return {allowed, now, tq, tb}
