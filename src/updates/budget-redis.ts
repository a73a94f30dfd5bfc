import { GENESYS_API_TAG, script, type RedisClient } from '../plugins/redis.js'
import { PROBE_POLL_MS, type Ask, type BudgetLog, type Grant, type Heard, type LogSettings } from './budget-log.js'

// The same decision as decide() in budget-log.ts, atomically in Redis.
// KEYS[1]: the log (sorted set: unit id scored by the ms it was sent); KEYS[2]: the state (hash:
// pause, limit, limitAt, heard, live, seq).
// ARGV: now, window, requests, probe, learnedMs, units, ahead, live (1/0), deadline, poll, probeMs.
// Returns {granted (0/1), waitMs or the last id, limit}.
const RESERVE = script(`
local now, window, requests = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local probe, learned, units, ahead = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local live, deadline, poll, probeMs = ARGV[8] == '1', tonumber(ARGV[9]), tonumber(ARGV[10]), tonumber(ARGV[11])
redis.call('zremrangebyscore', KEYS[1], '-inf', now - window)
local s = redis.call('hmget', KEYS[2], 'pause', 'limit', 'limitAt', 'heard', 'live')
local pause, limitAt, heard, liveUntil = tonumber(s[1]) or 0, tonumber(s[3]) or 0, tonumber(s[4]) or 0, tonumber(s[5]) or 0
local limit = requests
if s[2] and limitAt > now - learned then limit = math.min(requests, tonumber(s[2])) end
local tenthOf = math.max(1, math.floor(limit / 10))
local cap = limit
if not live then cap = limit - tenthOf end
local count = redis.call('zcard', KEYS[1])
local probed = heard <= now - window and redis.call('zcount', KEYS[1], '(' .. (now - probeMs), '+inf') + units > math.max(probe, units)
if pause > now then return {0, pause - now, limit} end
local blocked = (not live) and liveUntil > now
local tenth = window / 10
local recent = 0
if not live then recent = redis.call('zcount', KEYS[1], '(' .. (now - tenth), '+inf') end
local pace = math.max(units, tenthOf)
local paced = (not live) and recent + units > pace
if ahead == 0 and not blocked and not paced and not probed and count + units <= cap then
  local last = redis.call('hincrby', KEYS[2], 'seq', units)
  for i = last - units + 1, last do redis.call('zadd', KEYS[1], now, i) end
  redis.call('pexpire', KEYS[1], window * 2)
  redis.call('pexpire', KEYS[2], math.max(window, learned) * 2)
  return {1, last, limit}
end
local need = count + ahead + units - cap
local wait
if need <= 0 then wait = 1
elseif need <= count then
  local e = redis.call('zrange', KEYS[1], need - 1, need - 1, 'WITHSCORES')
  wait = tonumber(e[2]) + window - now
else wait = window * math.ceil((need - count) / math.max(cap, 1) + 1) end
if probed then wait = math.max(wait, poll) end
if paced then
  local i = count - recent + math.max(0, recent + units - pace) - 1
  local e = redis.call('zrange', KEYS[1], i, i, 'WITHSCORES')
  wait = math.max(wait, tonumber(e[2]) + tenth - now)
end
if blocked then wait = math.max(wait, liveUntil - now) end
wait = math.max(1, wait)
if live and now + wait < deadline and now + wait > liveUntil then
  redis.call('hset', KEYS[2], 'live', now + wait)
  redis.call('pexpire', KEYS[2], math.max(window, learned) * 2)
end
return {0, wait, limit}`)

// ARGV: now, allowed ('' when not said), pauseUntil ('' when none), ttl.
const HEARD = script(`
local s = redis.call('hmget', KEYS[1], 'heard', 'pause')
if tonumber(ARGV[1]) > (tonumber(s[1]) or 0) then redis.call('hset', KEYS[1], 'heard', ARGV[1]) end
if ARGV[2] ~= '' then redis.call('hset', KEYS[1], 'limit', ARGV[2], 'limitAt', ARGV[1]) end
if ARGV[3] ~= '' and tonumber(ARGV[3]) > (tonumber(s[2]) or 0) then redis.call('hset', KEYS[1], 'pause', ARGV[3]) end
return redis.call('pexpire', KEYS[1], ARGV[4])`)

/**
 * The log shared by every replica, in one cluster slot with the token (GENESYS_API_TAG). Times
 * are the replicas' own clocks: they must agree to well within the budget's margin (NTP does).
 */
export class RedisBudgetLog implements BudgetLog {
  readonly #redis: RedisClient
  readonly #s: LogSettings
  readonly #log: string
  readonly #state: string

  constructor (redis: RedisClient, prefix: string, settings: LogSettings) {
    this.#redis = redis
    this.#s = settings
    this.#log = `${prefix}budget-log:${GENESYS_API_TAG}`
    this.#state = `${prefix}budget-state:${GENESYS_API_TAG}`
  }

  async reserve ({ now, units, ahead, live, deadline }: Ask): Promise<Grant> {
    const s = this.#s
    const args = [now, s.windowMs, s.requests, s.probe, s.learnedMs, units, ahead, live ? 1 : 0, deadline, PROBE_POLL_MS, s.probeMs]
    const [granted, n, limit] = (await RESERVE(this.#redis, [this.#log, this.#state], args)) as [number, number, number]
    if (granted === 0) return { ids: [], waitMs: n, limit }
    return { ids: Array.from({ length: units }, (_, i) => String(n - units + 1 + i)), waitMs: 0, limit }
  }

  async stamp (ids: string[], now: number): Promise<void> {
    if (ids.length > 0) await this.#redis.zadd(this.#log, 'XX', ...ids.flatMap((id) => [now, id]))
  }

  async release (ids: string[]): Promise<void> {
    if (ids.length > 0) await this.#redis.zrem(this.#log, ...ids)
  }

  async heard ({ now, allowed, pauseUntil }: Heard): Promise<void> {
    const ttl = Math.max(this.#s.windowMs, this.#s.learnedMs) * 2
    await HEARD(this.#redis, [this.#state], [now, allowed ?? '', pauseUntil ?? '', ttl])
  }
}
