import { REDIS_NOW, script, type RedisClient } from './redis.ts'
import { claimDue } from './due.ts'
import { KEEP_SETTLED_MS } from './delivery.ts'
import { urlMark, type CallbackClaim, type CallbackState, type CallbackStore } from './callbacks.ts'
import { redisKeys, type RedisKeys } from './keys.ts'

// A state already final is never changed again (an overlapping attempt after a lease lapsed);
// the due list is this attempt's to change only while its claim holds.
// ARGV[4]: how long until the next attempt ('' when final), added to Redis's clock.
const RECORD = script('pdgCallbackRecord', `${REDIS_NOW}
local cur = redis.call('get', KEYS[2])
if not cur or cjson.decode(cur).state == 'pending' then redis.call('set', KEYS[2], ARGV[3], 'PX', ARGV[5]) end
if tonumber(redis.call('zscore', KEYS[1], ARGV[1])) ~= tonumber(ARGV[2]) then return 0 end
if ARGV[4] == '' then return redis.call('zrem', KEYS[1], ARGV[1]) end
return redis.call('zadd', KEYS[1], now + tonumber(ARGV[4]), ARGV[1])`)

/** Callback events in Redis, beside the updates (`{<prefix>async}:cb:…`), shared by every replica. */
export class RedisCallbackStore implements CallbackStore {
  readonly #redis: RedisClient
  readonly #keys: RedisKeys['async']

  constructor (redis: RedisClient, opts: { prefix: string }) {
    this.#redis = redis
    this.#keys = redisKeys(opts.prefix).async
  }

  async claim (now: number, leaseMs: number, limit: number): Promise<CallbackClaim[]> {
    // `now` was taken before the request: however late the answer, `until` is no later than the lease Redis holds.
    const { lease, taken } = await claimDue(this.#redis, this.#keys.callbackDue, leaseMs, limit)
    return taken.map((id) => ({ id, until: now + leaseMs, lease }))
  }

  async get (id: string): Promise<CallbackState | undefined> {
    const raw = await this.#redis.get(this.#keys.callback(id))
    return raw === null ? undefined : (JSON.parse(raw) as CallbackState)
  }

  async record (claim: CallbackClaim, s: CallbackState): Promise<void> {
    // The pause, not the time: the script adds it to Redis's clock.
    const next = s.state === 'pending' ? String(Math.max(0, (s.nextAttemptAt ?? 0) - (s.lastAttemptAt ?? claim.until))) : ''
    const keys = [this.#keys.callbackDue, this.#keys.callback(claim.id)]
    await RECORD(this.#redis, keys, [claim.id, claim.lease ?? claim.until, JSON.stringify(s), next, KEEP_SETTLED_MS + 3_600_000])
  }

  /** Kept until the key's callbackUrl changes (a new URL has another mark), a month at most. */
  async stop (caller: string, url: string): Promise<void> {
    await this.#redis.set(this.#keys.callbackGone(caller), urlMark(url), 'PX', 30 * 24 * 3_600_000)
  }

  async stopped (caller: string, url: string): Promise<boolean> {
    return (await this.#redis.get(this.#keys.callbackGone(caller))) === urlMark(url)
  }

  async backlog (): Promise<{ count: number }> {
    return { count: await this.#redis.zcard(this.#keys.callbackDue) }
  }
}
