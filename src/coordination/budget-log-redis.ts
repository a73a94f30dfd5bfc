import { randomUUID } from 'node:crypto'
import { redisKeys } from './keys.ts'
import { REDIS_CLOCK, script, type RedisClient } from './redis.ts'
import type { Ask, BudgetLog, Grant, LogSettings, Standing } from './budget-log.ts'
import { standingOf } from './budget-log.ts'

// Every script takes its time from Redis (TIME), so that the replicas' own clocks do not matter;
// ARGV[1] is '' then. Tests give a time instead, to hold these scripts to the memory log step by step.
const NOW = `
${REDIS_CLOCK}local now = tonumber(ARGV[1]) or redisNow()`

// limitAt() in budget-log.ts. S: the settings, as the last ARGV give them (see SETTINGS below).
const LIMIT_AT = `
local function limitAt(now, learned, learnedAt)
  if not learned then return S.requests end
  local limit = learned
  local since = now - learnedAt - S.hold
  if since >= 0 then
    local steps = math.floor(since / S.step) + 1
    local i = 0
    while i < steps and limit < S.requests do
      limit = limit + math.max(1, math.floor(limit / 10))
      i = i + 1
    end
  end
  return math.min(S.requests, limit)
end`

/** The settings, last in every script's ARGV, in this order. */
const settingsArgs = (s: LogSettings) => [s.requests, s.windowMs, s.evidenceMs, s.holdMs, s.stepMs, s.floor]
const SETTINGS = (at: number) => `
local S = { requests = tonumber(ARGV[${at}]), window = tonumber(ARGV[${at + 1}]), evidence = tonumber(ARGV[${at + 2}]),
  hold = tonumber(ARGV[${at + 3}]), step = tonumber(ARGV[${at + 4}]), floor = tonumber(ARGV[${at + 5}]) }
-- Long enough for a learned limit to climb all the way back.
local ttl = math.max(S.window * 2, S.hold + 200 * S.step)`

// KEYS: the units (sorted set: unit id scored by the ms it was taken, then sent), the answered
// (the units whose requests Genesys answered, by when they were sent), the state (hash: pause,
// learned, learnedAt, live).
//
// ioredis sends a command again when the connection broke before its answer came
// (autoResendUnfulfilledCommands), so a script may run twice for one call: each one that adds
// to the log names what it adds, and a second run finds it there.

// The same decision as decide() in budget-log.ts, atomically in Redis.
// ARGV: now, units, ahead, live (1/0), withinMs, the reservation's id, settings. Its units are
// <id>:1 to <id>:<units>. Returns {granted (0/1), waitMs, limit}.
const RESERVE = script('pdgBudgetReserve', `${NOW}${SETTINGS(7)}${LIMIT_AT}
local units, ahead, live, within, rid = tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4] == '1', tonumber(ARGV[5]), ARGV[6]
local window = S.window
redis.call('zremrangebyscore', KEYS[1], '-inf', now - window)
local s = redis.call('hmget', KEYS[3], 'pause', 'learned', 'learnedAt', 'live')
local pause, liveUntil = tonumber(s[1]) or 0, tonumber(s[4]) or 0
local limit = limitAt(now, tonumber(s[2]), tonumber(s[3]) or 0)
if redis.call('zscore', KEYS[1], rid .. ':1') then return {1, 0, limit} end
local tenthOf = math.max(1, math.floor(limit / 10))
local cap = limit
if not live then cap = limit - tenthOf end
local count = redis.call('zcard', KEYS[1])
if pause > now then return {0, pause - now, limit} end
local blocked = (not live) and liveUntil > now
local tenth = window / 10
local recent = 0
if not live then recent = redis.call('zcount', KEYS[1], '(' .. (now - tenth), '+inf') end
local pace = math.max(units, tenthOf)
local paced = (not live) and recent + units > pace
if ahead == 0 and not blocked and not paced and count + units <= cap then
  for i = 1, units do redis.call('zadd', KEYS[1], now, rid .. ':' .. i) end
  redis.call('pexpire', KEYS[1], window * 2)
  redis.call('pexpire', KEYS[3], ttl)
  return {1, 0, limit}
end
local need = count + ahead + units - cap
local wait
if need <= 0 then wait = 1
elseif need <= count then
  local e = redis.call('zrange', KEYS[1], need - 1, need - 1, 'WITHSCORES')
  wait = tonumber(e[2]) + window - now
else wait = window * math.ceil((need - count) / math.max(cap, 1) + 1) end
if paced then
  local i = count - recent + math.max(0, recent + units - pace) - 1
  local e = redis.call('zrange', KEYS[1], i, i, 'WITHSCORES')
  wait = math.max(wait, tonumber(e[2]) + tenth - now)
end
if blocked then wait = math.max(wait, liveUntil - now) end
wait = math.max(1, wait)
if live and wait < within and now + wait > liveUntil then
  redis.call('hset', KEYS[3], 'live', now + wait)
  redis.call('pexpire', KEYS[3], ttl)
end
return {0, wait, limit}`)

// A unit goes out: dated now (an upsert, whether or not its entry has left the log), unless the
// pause is on. ARGV: now, id, settings. Returns the ms of pause left, or 0.
const SEND = script('pdgBudgetSend', `${NOW}${SETTINGS(3)}
local pause = tonumber(redis.call('hget', KEYS[3], 'pause')) or 0
if pause > now then return pause - now end
redis.call('zadd', KEYS[1], now, ARGV[2])
redis.call('pexpire', KEYS[1], S.window * 2)
return 0`)

// ARGV: now. Returns the ms of pause left, or 0.
const PAUSED = script('pdgBudgetPaused', `${NOW}
local pause = tonumber(redis.call('hget', KEYS[1], 'pause')) or 0
return math.max(0, pause - now)`)

// learnedFrom() in budget-log.ts: what the last window proves (its requests sent and already
// answered), or the larger of that and `previous` (a limit learned within this window), when given.
const LEARN = `
local function learn(now, previous)
  local proven = redis.call('zcount', KEYS[2], '(' .. (now - S.evidence), '+inf')
  return math.min(S.requests, math.max(S.floor, proven, previous or 0))
end`

// Genesys answered units' requests: each joins the answered, dated when it was sent, and a limit
// a 429 taught within the last window rises to what that window now proves. ARGV: now,
// settings, then the units' ids (the answers of one turn of the event loop, in one call).
const ANSWERED = script('pdgBudgetAnswered', `${NOW}${SETTINGS(2)}${LEARN}
local added = 0
for i = 8, #ARGV do
  local sentAt = redis.call('zscore', KEYS[1], ARGV[i])
  if sentAt then
    redis.call('zadd', KEYS[2], sentAt, ARGV[i])
    added = added + 1
  end
end
if added == 0 then return 0 end
redis.call('zremrangebyscore', KEYS[2], '-inf', now - S.window)
redis.call('pexpire', KEYS[2], S.window * 2)
local s = redis.call('hmget', KEYS[3], 'learned', 'learnedAt')
if s[1] and (tonumber(s[2]) or 0) > now - S.evidence then
  redis.call('hset', KEYS[3], 'learned', learn(now, tonumber(s[1])))
end
return 0`)

// A 429: the pause, and the limit learned afresh from what its window proves. ARGV: now,
// retryAfterMs, settings.
const REFUSED = script('pdgBudgetRefused', `${NOW}${SETTINGS(3)}${LEARN}
redis.call('zremrangebyscore', KEYS[2], '-inf', now - S.window)
redis.call('hset', KEYS[3], 'learned', learn(now, nil), 'learnedAt', now)
local pause = now + tonumber(ARGV[2])
if pause > (tonumber(redis.call('hget', KEYS[3], 'pause')) or 0) then redis.call('hset', KEYS[3], 'pause', pause) end
redis.call('pexpire', KEYS[3], ttl)
return 0`)

// ARGV: now. Returns {now, learned or '', learnedAt, pause}.
const STANDING = script('pdgBudgetStanding', `${NOW}
local s = redis.call('hmget', KEYS[1], 'learned', 'learnedAt', 'pause')
return {now, s[1] or '', s[2] or '0', s[3] or '0'}`)

/**
 * The log shared by every replica. Times are Redis's own (TIME), not the replicas': the `now`
 * each call is given is used only when `clock` says so (tests that step time themselves).
 */
export class RedisBudgetLog implements BudgetLog {
  readonly #redis: RedisClient
  readonly #s: LogSettings
  readonly #keys: string[]
  readonly #state: string
  readonly #givenTime: boolean
  /** Answers not yet sent to Redis, and the time of the latest (for tests that give the time). */
  readonly #answered: string[] = []
  #answeredAt = 0
  #flush: Promise<void> | undefined

  constructor (redis: RedisClient, prefix: string, settings: LogSettings, opts: { clock?: 'redis' | 'given' } = {}) {
    this.#redis = redis
    this.#s = settings
    const k = redisKeys(prefix).budget
    this.#keys = [k.units, k.answered, k.state]
    this.#state = k.state
    this.#givenTime = opts.clock === 'given'
  }

  #now (now: number): number | string {
    return this.#givenTime ? now : ''
  }

  async reserve ({ now, units, ahead, live, withinMs }: Ask): Promise<Grant> {
    const rid = randomUUID()
    const args = [this.#now(now), units, ahead, live ? 1 : 0, withinMs, rid, ...settingsArgs(this.#s)]
    const [granted, waitMs, limit] = (await RESERVE(this.#redis, this.#keys, args)) as [number, number, number]
    if (granted === 0) return { ids: [], waitMs, limit }
    return { ids: Array.from({ length: units }, (_, i) => `${rid}:${i + 1}`), waitMs: 0, limit }
  }

  async send (id: string, now: number): Promise<number> {
    return (await SEND(this.#redis, this.#keys, [this.#now(now), id, ...settingsArgs(this.#s)])) as number
  }

  async paused (now: number): Promise<number> {
    return (await PAUSED(this.#redis, [this.#state], [this.#now(now)])) as number
  }

  async release (ids: string[]): Promise<void> {
    if (ids.length > 0) await this.#redis.zrem(this.#keys[0]!, ...ids)
  }

  /**
   * Answers that come in the same turn of the event loop (a burst's, under load) go to Redis in
   * one call: one script run for them all, not one each.
   */
  answered (id: string, now: number): Promise<void> {
    this.#answered.push(id)
    this.#answeredAt = now
    this.#flush ??= new Promise<void>((resolve) => setImmediate(resolve)).then(() => {
      const ids = this.#answered.splice(0)
      this.#flush = undefined
      return ANSWERED(this.#redis, this.#keys, [this.#now(this.#answeredAt), ...settingsArgs(this.#s), ...ids]).then(() => {})
    })
    return this.#flush
  }

  async refused (now: number, retryAfterMs: number): Promise<void> {
    // Answers held for this turn's call go first: a 429 learns from every answer that came before it.
    await this.#flush?.catch(() => {})
    await REFUSED(this.#redis, this.#keys, [this.#now(now), retryAfterMs, ...settingsArgs(this.#s)])
  }

  async standing (now: number): Promise<Standing> {
    const [at, learned, learnedAt, pause] = (await STANDING(this.#redis, [this.#state], [this.#now(now)])) as [number, string, string, string]
    return standingOf(this.#s, at, learned === '' ? undefined : Number(learned), Number(learnedAt), Number(pause))
  }
}
