import type { RedisClient } from '../plugins/redis.js'
import { KEEP_SETTLED_MS, RECENT_KEPT, settled, toKeep, type Delivery, type DeliveryStore, type Page } from './store.js'

/**
 * Updates in RedisClient, shared by every replica: one JSON string per update (expiring a day after it
 * settles), a sorted set of those not yet settled (the backlog, by acceptance time) and one of
 * each caller's failed ones (newest first), and of each caller's latest ones, overall and per
 * conversation (the console's). Redis must persist (AOF) for a 202 to outlive it.
 */
export class RedisDeliveryStore implements DeliveryStore {
  readonly #redis: RedisClient
  readonly #prefix: string
  /** An unsettled update's record outlives its maximum age by the day a settled one is kept. */
  readonly #pendingTtlMs: number
  readonly #clock: () => number

  constructor (redis: RedisClient, opts: { prefix: string; maxAgeMs: number; clock?: () => number }) {
    this.#redis = redis
    this.#prefix = `${opts.prefix}async:`
    this.#pendingTtlMs = opts.maxAgeMs + KEEP_SETTLED_MS
    this.#clock = opts.clock ?? Date.now
  }

  #key (id: string) {
    return `${this.#prefix}u:${id}`
  }

  #failed (caller: string) {
    return `${this.#prefix}failed:${caller}`
  }

  /** The caller's name encoded, so that no name can make its key another caller's per-conversation one. */
  #recent (caller: string, conversationId?: string) {
    return `${this.#prefix}recent:${encodeURIComponent(caller)}${conversationId === undefined ? '' : `:${encodeURIComponent(conversationId)}`}`
  }

  async add (d: Delivery): Promise<void> {
    const m = this.#redis
      .multi()
      .set(this.#key(d.id), JSON.stringify(d), 'PX', this.#pendingTtlMs)
      .zadd(`${this.#prefix}pending`, d.acceptedAt, d.id)
    // Capped, and gone when their newest entry's record would be; an entry whose record went first is skipped on reading.
    for (const list of [this.#recent(d.caller), this.#recent(d.caller, d.conversationId)]) {
      m.zadd(list, d.acceptedAt, d.id).zremrangebyrank(list, 0, -RECENT_KEPT - 1).pexpire(list, this.#pendingTtlMs)
    }
    await m.exec().then(failedIn)
  }

  async get (id: string): Promise<Delivery | undefined> {
    const raw = await this.#redis.get(this.#key(id))
    return raw === null ? undefined : (JSON.parse(raw) as Delivery)
  }

  async discard (id: string): Promise<void> {
    await this.#redis.multi().del(this.#key(id)).zrem(`${this.#prefix}pending`, id).exec().then(failedIn)
  }

  async save (d: Delivery): Promise<void> {
    const m = this.#redis.multi().set(this.#key(d.id), JSON.stringify(toKeep(d)), 'PX', settled(d) ? KEEP_SETTLED_MS : this.#pendingTtlMs)
    if (settled(d)) m.zrem(`${this.#prefix}pending`, d.id)
    if (d.state === 'failed') {
      const list = this.#failed(d.caller)
      // Entries whose record has expired are trimmed as new ones come.
      m.zadd(list, d.acceptedAt, d.id).zremrangebyscore(list, '-inf', this.#clock() - this.#pendingTtlMs).pexpire(list, this.#pendingTtlMs)
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

  backlog (): Promise<number> {
    return this.#redis.zcard(`${this.#prefix}pending`)
  }

  async oldestPending (): Promise<number | undefined> {
    const [, score] = await this.#redis.zrange(`${this.#prefix}pending`, '0', '0', 'WITHSCORES')
    return score === undefined ? undefined : Number(score)
  }
}

/** A MULTI whose commands failed rejects, rather than resolving with the errors inside. */
function failedIn (results: Array<[Error | null, unknown]> | null): void {
  const err = results?.find(([e]) => e !== null)?.[0]
  if (err) throw err
  if (results === null) throw new Error('the transaction was aborted')
}
