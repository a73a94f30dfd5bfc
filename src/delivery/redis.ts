import { script, type RedisClient } from '../plugins/redis.js'
import { KEEP_SETTLED_MS, RECENT_KEPT, settled, toKeep, type Delivery, type DeliveryStore, type Page } from './store.js'

// KEYS: the record, the backlog, the conversation's pending ones, the caller's recent ones, the
// caller's recent ones in this conversation, and the conversation's mark that a delivery attempt
// is due and not started (the id of the update that set it). ARGV: the record, its ttl,
// acceptance time, id, sequence, the backlog's bound, how many recent ones are kept, the mark's
// ttl. 0 when the backlog is full; 2 when another update's mark was there (the attempt it queued
// will carry this one); else 1, and the caller queues the attempt: also when this update's own
// mark is there, as when a client sends the script again after a lost answer.
const ADD = script(`
if redis.call('zcard', KEYS[2]) >= tonumber(ARGV[6]) and redis.call('exists', KEYS[1]) == 0 then return 0 end
redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('zadd', KEYS[2], ARGV[3], ARGV[4])
redis.call('zadd', KEYS[3], ARGV[5], ARGV[4])
redis.call('pexpire', KEYS[3], ARGV[2])
for i = 4, 5 do
  redis.call('zadd', KEYS[i], ARGV[3], ARGV[4])
  redis.call('zremrangebyrank', KEYS[i], 0, -tonumber(ARGV[7]) - 1)
  redis.call('pexpire', KEYS[i], ARGV[2])
end
local due = redis.call('get', KEYS[6])
if due and due ~= ARGV[4] then return 2 end
redis.call('set', KEYS[6], ARGV[4], 'PX', ARGV[8])
return 1`)

// KEYS: the conversation's pending ones, its mark, the backlog. ARGV: the records' key prefix
// (the same slot). An attempt starts: updates stored from now on need another. Returns the
// records; ids whose record is gone (expired) are dropped from the indexes.
const START = script(`
redis.call('del', KEYS[2])
local out = {}
for _, id in ipairs(redis.call('zrange', KEYS[1], 0, -1)) do
  local raw = redis.call('get', ARGV[1] .. id)
  if raw then
    out[#out + 1] = raw
  else
    redis.call('zrem', KEYS[1], id)
    redis.call('zrem', KEYS[3], id)
  end
end
return out`)

// KEYS: the backlog, then per update its record, its conversation's pending ones, and its
// caller's failed ones. ARGV: the ttls of a pending and of a settled record, the time before which
// failed entries are trimmed, then per update its record and whether it is settled, failed, its
// id and acceptance time. A record already settled is never changed again, nor one gone: two
// attempts that overlapped (a replica that lost its job's lock while still at it) cannot undo
// each other's settling.
const SAVE = script(`
for i = 0, (#KEYS - 1) / 3 - 1 do
  local rec, conv, failed = KEYS[2 + 3 * i], KEYS[3 + 3 * i], KEYS[4 + 3 * i]
  local json, isSettled, isFailed, id, at = ARGV[4 + 5 * i], ARGV[5 + 5 * i], ARGV[6 + 5 * i], ARGV[7 + 5 * i], ARGV[8 + 5 * i]
  local cur = redis.call('get', rec)
  local state = cur and cjson.decode(cur).state
  if state and state ~= 'written' and state ~= 'failed' then
    redis.call('set', rec, json, 'PX', isSettled == '1' and ARGV[2] or ARGV[1])
    if isSettled == '1' then
      redis.call('zrem', KEYS[1], id)
      redis.call('zrem', conv, id)
    end
    if isFailed == '1' then
      redis.call('zadd', failed, at, id)
      redis.call('zremrangebyscore', failed, '-inf', ARGV[3])
      redis.call('pexpire', failed, ARGV[1])
    end
  end
end`)

// KEYS: the mark. ARGV: the id of the update being discarded. Its own mark only.
const UNMARK = script(`
if redis.call('get', KEYS[1]) == ARGV[1] then redis.call('del', KEYS[1]) end`)

/**
 * How long the mark that an attempt is due may stand. The attempt clears it when it starts. It
 * matters should a replica die between storing an update and queueing its attempt: updates that
 * joined it meanwhile wait for the rescue sweep (delivery/plugin.ts); after this long, the next
 * update to the conversation queues one itself.
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
    const keys = [this.#conversation(conversationId), this.#due(conversationId), this.#backlogKey]
    const raws = (await START(this.#redis, keys, [this.#key('')])) as string[]
    // One settled by an overlapping attempt since it was indexed is not delivered again.
    return raws.map((r) => JSON.parse(r) as Delivery).filter((d) => !settled(d))
  }

  async discard (d: Delivery): Promise<void> {
    const { conversationId: c } = d
    await this.#redis.multi().del(this.#key(d.id)).zrem(this.#backlogKey, d.id).zrem(this.#conversation(c), d.id).exec().then(failedIn)
    await UNMARK(this.#redis, [this.#due(c)], [d.id])
  }

  async save (deliveries: Delivery[]): Promise<void> {
    if (deliveries.length === 0) return
    const keys = [this.#backlogKey]
    const args: Array<string | number> = [this.#pendingTtlMs, KEEP_SETTLED_MS, this.#clock() - this.#pendingTtlMs]
    for (const d of deliveries) {
      keys.push(this.#key(d.id), this.#conversation(d.conversationId), this.#failed(d.caller))
      args.push(JSON.stringify(toKeep(d)), settled(d) ? '1' : '0', d.state === 'failed' ? '1' : '0', d.id, d.acceptedAt)
    }
    await SAVE(this.#redis, keys, args)
  }

  async list (caller: string, _state: 'failed', offset: number, limit: number): Promise<Page> {
    const ids = await this.#redis.zrevrange(this.#failed(caller), offset, offset + limit)
    const items = await this.#records(ids.slice(0, limit))
    return ids.length > limit ? { items, next: offset + limit } : { items }
  }

  async recent (caller: string, limit: number, conversationId?: string): Promise<Delivery[]> {
    const ids = await this.#redis.zrevrange(this.#recent(caller, conversationId), 0, Math.min(limit, RECENT_KEPT) - 1)
    return this.#records(ids)
  }

  async stale (from: number, before: number, limit: number): Promise<{ conversations: string[]; last?: number }> {
    const page = await this.#redis.zrangebyscore(this.#backlogKey, `(${from}`, `(${before}`, 'WITHSCORES', 'LIMIT', 0, limit)
    const ids = page.filter((_, i) => i % 2 === 0)
    const conversations = [...new Set((await this.#records(ids)).map((d) => d.conversationId))]
    return ids.length < limit ? { conversations } : { conversations, last: Number(page.at(-1)) }
  }

  /** The records of these ids, in their order; those gone (expired) left out. */
  async #records (ids: string[]): Promise<Delivery[]> {
    const raws = ids.length === 0 ? [] : await this.#redis.mget(ids.map((id) => this.#key(id)))
    return raws.flatMap((r) => (r === null ? [] : [JSON.parse(r) as Delivery]))
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
