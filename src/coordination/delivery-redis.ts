import { systemClock, type Clock } from '../clock.ts'
import { coordinationUnavailable } from '../errors.ts'
import { REDIS_NOW, script, type RedisClient } from './redis.ts'
import { claimDue } from './due.ts'
import { highestSeq, KEEP_SETTLED_MS, RECENT_KEPT, settled, toKeep, type Acceptance, type Claim, type Delivery, type DeliveryStore, type Page } from './delivery.ts'
import { redisKeys, type RedisKeys } from './keys.ts'

// The intake, atomic: the record, its indexes and its conversation's due entry (NX: one already
// there, due or claimed, stands). 0 when the backlog is full, 2 when the caller's share of it is
// (its pending set drops ids older than any record can live, whose records expired unsettled).
// Sent again (ioredis resends a command unanswered at a reconnect), it finds its record and
// changes nothing: the update may have been delivered since. KEYS and ARGV: see accept().
const ACCEPT = script('pdgDeliveryAccept', `${REDIS_NOW}
if redis.call('exists', KEYS[1]) == 1 then return 1 end
if redis.call('zcard', KEYS[2]) >= tonumber(ARGV[6]) then return 0 end
redis.call('zremrangebyscore', KEYS[7], '-inf', tonumber(ARGV[3]) - tonumber(ARGV[2]))
if redis.call('zcard', KEYS[7]) >= tonumber(ARGV[9]) then return 2 end
redis.call('zadd', KEYS[7], ARGV[3], ARGV[4])
redis.call('pexpire', KEYS[7], ARGV[2])
redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('zadd', KEYS[2], ARGV[3], ARGV[4])
redis.call('zadd', KEYS[3], ARGV[5], ARGV[4])
redis.call('pexpire', KEYS[3], ARGV[2])
redis.call('zadd', KEYS[4], 'NX', now, ARGV[8])
for i = 5, 6 do
  redis.call('zadd', KEYS[i], ARGV[3], ARGV[4])
  redis.call('zremrangebyrank', KEYS[i], 0, -tonumber(ARGV[7]) - 1)
  redis.call('pexpire', KEYS[i], ARGV[2])
end
return 1`)

// An attempt's outcome (KEYS and ARGV: see finish()). A record already settled (by an
// overlapping attempt after a lease lapsed) is never changed again, nor one gone, nor one a later
// attempt recorded (more attempts): the outcome of an earlier one may come late, or be sent
// again after a reconnect. The due list is this attempt's to change only while its claim holds.
// The last key is the callbacks' due list (docs/crm.md, "Outcome callbacks"): an update whose key has a callback goes on
// it, due at once, as it settles, in this same step, so no settled update's event can be lost.
const FINISH = script('pdgDeliveryFinish', `${REDIS_NOW}
for i = 0, (#KEYS - 4) / 3 - 1 do
  local rec, failed, mine = KEYS[4 + 3 * i], KEYS[5 + 3 * i], KEYS[6 + 3 * i]
  local json, isSettled, isFailed, id, at = ARGV[9 + 5 * i], ARGV[10 + 5 * i], ARGV[11 + 5 * i], ARGV[12 + 5 * i], ARGV[13 + 5 * i]
  local cur = redis.call('get', rec)
  local was = cur and cjson.decode(cur)
  if was and was.state ~= 'written' and was.state ~= 'failed' and cjson.decode(json).attempts >= was.attempts then
    redis.call('set', rec, json, 'PX', isSettled == '1' and ARGV[7] or ARGV[6])
    if isSettled == '1' then
      redis.call('zrem', KEYS[1], id)
      redis.call('zrem', KEYS[3], id)
      redis.call('zrem', mine, id)
    end
    if isSettled == '1' and cjson.decode(json).callback then redis.call('zadd', KEYS[#KEYS], 0, id) end
    if isFailed == '1' then
      redis.call('zadd', failed, at, id)
      redis.call('zremrangebyscore', failed, '-inf', ARGV[8])
      redis.call('pexpire', failed, ARGV[6])
    end
  end
end
if tonumber(redis.call('zscore', KEYS[2], ARGV[1])) ~= tonumber(ARGV[2]) then return 0 end
if redis.call('zcard', KEYS[3]) == 0 then return redis.call('zrem', KEYS[2], ARGV[1]) end
local newer = #redis.call('zrangebyscore', KEYS[3], '(' .. ARGV[5], '+inf', 'LIMIT', 0, 1) > 0
return redis.call('zadd', KEYS[2], newer and now or now + tonumber(ARGV[4]), ARGV[1])`)

/**
 * Updates in Redis, shared by every replica, under one cluster slot tag (`{<prefix>async}`): one
 * JSON string per update (kept a day after it settles); the due list (conversations by when each
 * is next to be tried); per conversation, its pending updates (by sequence); the backlog (every
 * pending update, by acceptance time); each caller's failed and latest updates (the console's).
 */
export class RedisDeliveryStore implements DeliveryStore {
  readonly #redis: RedisClient
  readonly #keys: RedisKeys['async']
  /** An unsettled update's record outlives its maximum age by the day a settled one is kept. */
  readonly #pendingTtlMs: number
  readonly #now: () => number

  constructor (redis: RedisClient, opts: { prefix: string; maxAgeMs: number; clock?: Clock }) {
    this.#redis = redis
    this.#keys = redisKeys(opts.prefix).async
    this.#pendingTtlMs = opts.maxAgeMs + KEEP_SETTLED_MS
    this.#now = (opts.clock ?? systemClock).now
  }

  async accept (d: Delivery, maxBacklog: number, maxPerCaller = Infinity): Promise<Acceptance> {
    const { conversationId: c } = d
    const k = this.#keys
    const keys = [k.update(d.id), k.pending, k.conversation(c), k.due, k.recent(d.caller), k.recent(d.caller, c), k.callerPending(d.caller)]
    const share = Number.isFinite(maxPerCaller) ? maxPerCaller : maxBacklog
    const args = [JSON.stringify(d), this.#pendingTtlMs, d.acceptedAt, d.id, d.seq, maxBacklog, RECENT_KEPT, c, share].map(String)
    // The caller must not be told 202, and is told why: the one store it relies on is unreachable.
    const answer = Number(await ACCEPT(this.#redis, keys, args).catch((err: unknown) => Promise.reject(coordinationUnavailable(err))))
    return answer === 1 ? true : answer === 2 ? 'share' : 'backlog'
  }

  async claim (leaseMs: number, limit: number): Promise<Claim[]> {
    // Counted from before the request: however late the answer comes, `until` is no later than the lease Redis holds.
    const sent = this.#now()
    const { lease, taken } = await claimDue(this.#redis, this.#keys.due, leaseMs, limit)
    return taken.map((conversationId) => ({ conversationId, until: sent + leaseMs, lease }))
  }

  async pending (conversationId: string): Promise<Delivery[]> {
    const ids = await this.#redis.zrange(this.#keys.conversation(conversationId), '0', '-1')
    const found = await this.#records(ids)
    // Ids whose record expired (never delivered within a day and more) leave the indexes, so the conversation can leave the due list.
    const gone = ids.filter((id) => !found.some((d) => d.id === id))
    if (gone.length > 0) await this.#redis.multi().zrem(this.#keys.conversation(conversationId), ...gone).zrem(this.#keys.pending, ...gone).exec()
    // One settled by an overlapping attempt since it was indexed is not delivered again.
    return found.filter((d) => !settled(d))
  }

  async finish (claim: Claim, deliveries: Delivery[], retryAt: number): Promise<void> {
    const keys = [this.#keys.pending, this.#keys.due, this.#keys.conversation(claim.conversationId)]
    const now = this.#now()
    const ttls = [this.#pendingTtlMs, KEEP_SETTLED_MS, now - this.#pendingTtlMs]
    // The pause, not the time: the script adds it to Redis's clock (ARGV[3], once this replica's now, is unused).
    const args: Array<string | number> = [claim.conversationId, claim.lease, '', Math.max(0, retryAt - now), highestSeq(deliveries), ...ttls]
    for (const d of deliveries) {
      keys.push(this.#keys.update(d.id), this.#keys.failed(d.caller), this.#keys.callerPending(d.caller))
      args.push(JSON.stringify(toKeep(d)), settled(d) ? '1' : '0', d.state === 'failed' ? '1' : '0', d.id, d.acceptedAt)
    }
    keys.push(this.#keys.callbackDue)
    await FINISH(this.#redis, keys, args)
  }

  async get (id: string): Promise<Delivery | undefined> {
    const raw = await this.#redis.get(this.#keys.update(id))
    return raw === null ? undefined : (JSON.parse(raw) as Delivery)
  }

  async list (caller: string, _state: 'failed', offset: number, limit: number): Promise<Page> {
    const ids = await this.#redis.zrevrange(this.#keys.failed(caller), offset, offset + limit)
    const items = await this.#records(ids.slice(0, limit))
    return ids.length > limit ? { items, next: offset + limit } : { items }
  }

  async recent (caller: string, limit: number, conversationId?: string): Promise<Delivery[]> {
    return this.#records(await this.#redis.zrevrange(this.#keys.recent(caller, conversationId), 0, Math.min(limit, RECENT_KEPT) - 1))
  }

  async backlog (): Promise<{ count: number; oldest?: number }> {
    const key = this.#keys.pending
    const [count, [, oldest]] = await Promise.all([this.#redis.zcard(key), this.#redis.zrange(key, '0', '0', 'WITHSCORES')])
    return oldest === undefined ? { count } : { count, oldest: Number(oldest) }
  }

  /** The records of these ids, in their order; those gone (expired) left out. */
  async #records (ids: string[]): Promise<Delivery[]> {
    const raws = ids.length === 0 ? [] : await this.#redis.mget(ids.map((id) => this.#keys.update(id)))
    return raws.flatMap((r) => (r === null ? [] : [JSON.parse(r) as Delivery]))
  }
}
