import { script, type RedisClient } from '../plugins/redis.js'
import { KEEP_SETTLED_MS, RECENT_KEPT, settled, toKeep, type Delivery, type DeliveryStore, type Page } from './store.js'

// KEYS: the record, the backlog, the conversation's pending ones, the caller's recent ones, the
// caller's recent ones in this conversation, and the conversation's mark that a delivery attempt
// is due and not started. ARGV: the record, its ttl, acceptance time, id, sequence, the
// backlog's bound, how many recent ones are kept, the mark's ttl. 0 when the backlog is full,
// 2 when the mark was there (that attempt will carry this update), else 1.
const ADD = script(`
if redis.call('zcard', KEYS[2]) >= tonumber(ARGV[6]) then return 0 end
redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('zadd', KEYS[2], ARGV[3], ARGV[4])
redis.call('zadd', KEYS[3], ARGV[5], ARGV[4])
redis.call('pexpire', KEYS[3], ARGV[2])
for i = 4, 5 do
  redis.call('zadd', KEYS[i], ARGV[3], ARGV[4])
  redis.call('zremrangebyrank', KEYS[i], 0, -tonumber(ARGV[7]) - 1)
  redis.call('pexpire', KEYS[i], ARGV[2])
end
if redis.call('set', KEYS[6], '1', 'NX', 'PX', ARGV[8]) then return 1 end
return 2`)

// KEYS: the conversation's pending ones, its mark. An attempt starts: updates stored from now on
// need another.
const START = script(`
redis.call('del', KEYS[2])
return redis.call('zrange', KEYS[1], 0, -1)`)

/**
 * How long the mark that an attempt is due may stand. The attempt clears it when it starts; the
 * ttl only matters should a replica die between storing an update and queueing its attempt (that
 * update was never answered 202): the next update to its conversation after this long queues one.
 */
const DUE_TTL_MS = 60_000

/**
 * Updates in Redis, shared by every replica: one JSON string per update (expiring a day after it
 * settles), a sorted set of those not yet settled (the backlog, by acceptance time), one per
 * conversation of its pending ones (by sequence), one of each caller's failed ones (newest
 * first), and of each caller's latest ones, overall and per conversation (the console's). All
 * under one cluster slot tag, `{<prefix>async}`, as an update's acceptance touches several at
 * once. Redis must persist (AOF) for a 202 to outlive it.
 */
export class RedisDeliveryStore implements DeliveryStore {
  readonly #redis: RedisClient
  readonly #prefix: string
  /** An unsettled update's record outlives its maximum age by the day a settled one is kept. */
  readonly #pendingTtlMs: number
  readonly #clock: () => number

  constructor (redis: RedisClient, opts: { prefix: string; maxAgeMs: number; clock?: () => number }) {
    this.#redis = redis
    this.#prefix = `{${opts.prefix}async}:`
    this.#pendingTtlMs = opts.maxAgeMs + KEEP_SETTLED_MS
    this.#clock = opts.clock ?? Date.now
  }

  #key (id: string) {
    return `${this.#prefix}u:${id}`
  }

  get #backlogKey () {
    return `${this.#prefix}pending`
  }

  #conversation (conversationId: string) {
    return `${this.#prefix}c:${conversationId}`
  }

  #due (conversationId: string) {
    return `${this.#prefix}due:${conversationId}`
  }

  #failed (caller: string) {
    return `${this.#prefix}failed:${caller}`
  }

  /** The caller's name encoded, so that no name can make its key another caller's per-conversation one. */
  #recent (caller: string, conversationId?: string) {
    return `${this.#prefix}recent:${encodeURIComponent(caller)}${conversationId === undefined ? '' : `:${encodeURIComponent(conversationId)}`}`
  }

  async add (d: Delivery, maxBacklog: number): Promise<'full' | 'stored' | 'joined'> {
    const { conversationId: c } = d
    const keys = [this.#key(d.id), this.#backlogKey, this.#conversation(c), this.#recent(d.caller), this.#recent(d.caller, c), this.#due(c)]
    const args = [JSON.stringify(d), this.#pendingTtlMs, d.acceptedAt, d.id, d.seq, maxBacklog, RECENT_KEPT, DUE_TTL_MS].map(String)
    return (['full', 'stored', 'joined'] as const)[Number(await ADD(this.#redis, keys, args))]!
  }

  async get (id: string): Promise<Delivery | undefined> {
    const raw = await this.#redis.get(this.#key(id))
    return raw === null ? undefined : (JSON.parse(raw) as Delivery)
  }

  async pending (conversationId: string): Promise<Delivery[]> {
    const ids = (await START(this.#redis, [this.#conversation(conversationId), this.#due(conversationId)], [])) as string[]
    if (ids.length === 0) return []
    const raws = await this.#redis.mget(ids.map((id) => this.#key(id)))
    return raws.flatMap((r) => (r === null ? [] : [JSON.parse(r) as Delivery]))
  }

  async discard (d: Delivery): Promise<void> {
    const { conversationId: c } = d
    await this.#redis.multi().del(this.#key(d.id), this.#due(c)).zrem(this.#backlogKey, d.id).zrem(this.#conversation(c), d.id).exec().then(failedIn)
  }

  async save (deliveries: Delivery[]): Promise<void> {
    if (deliveries.length === 0) return
    const m = this.#redis.multi()
    for (const d of deliveries) {
      m.set(this.#key(d.id), JSON.stringify(toKeep(d)), 'PX', settled(d) ? KEEP_SETTLED_MS : this.#pendingTtlMs)
      if (settled(d)) m.zrem(this.#backlogKey, d.id).zrem(this.#conversation(d.conversationId), d.id)
      if (d.state === 'failed') {
        const list = this.#failed(d.caller)
        // Entries whose record has expired are trimmed as new ones come.
        m.zadd(list, d.acceptedAt, d.id).zremrangebyscore(list, '-inf', this.#clock() - this.#pendingTtlMs).pexpire(list, this.#pendingTtlMs)
      }
    }
    await m.exec().then(failedIn)
  }

  async list (caller: string, _state: 'failed', offset: number, limit: number): Promise<Page> {
    const ids = await this.#redis.zrevrange(this.#failed(caller), offset, offset + limit)
    const page = ids.slice(0, limit)
    const raws = page.length === 0 ? [] : await this.#redis.mget(page.map((id) => this.#key(id)))
    const items = raws.flatMap((r) => (r === null ? [] : [JSON.parse(r) as Delivery]))
    return ids.length > limit ? { items, next: offset + limit } : { items }
  }

  async recent (caller: string, limit: number, conversationId?: string): Promise<Delivery[]> {
    const ids = await this.#redis.zrevrange(this.#recent(caller, conversationId), 0, Math.min(limit, RECENT_KEPT) - 1)
    const raws = ids.length === 0 ? [] : await this.#redis.mget(ids.map((id) => this.#key(id)))
    return raws.flatMap((r) => (r === null ? [] : [JSON.parse(r) as Delivery]))
  }

  async stale (before: number, limit: number): Promise<string[]> {
    const ids = await this.#redis.zrangebyscore(this.#backlogKey, '-inf', `(${before}`, 'LIMIT', 0, limit)
    const raws = ids.length === 0 ? [] : await this.#redis.mget(ids.map((id) => this.#key(id)))
    return [...new Set(raws.flatMap((r) => (r === null ? [] : [(JSON.parse(r) as Delivery).conversationId])))]
  }

  backlog (): Promise<number> {
    return this.#redis.zcard(this.#backlogKey)
  }

  async oldestPending (): Promise<number | undefined> {
    const [, score] = await this.#redis.zrange(this.#backlogKey, '0', '0', 'WITHSCORES')
    return score === undefined ? undefined : Number(score)
  }
}

/** A MULTI whose commands failed rejects, rather than resolving with the errors inside. */
function failedIn (results: Array<[Error | null, unknown]> | null): void {
  const err = results?.find(([e]) => e !== null)?.[0]
  if (err) throw err
  if (results === null) throw new Error('the transaction was aborted')
}
