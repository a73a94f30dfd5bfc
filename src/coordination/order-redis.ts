import { randomUUID } from 'node:crypto'
import { script, type RedisClient } from './redis.ts'
import { ORDER_TTL_MS, type Order, type Sequences } from './order.ts'
import type { Attributes } from '../domain.ts'
import { redisKeys, type RedisKeys } from './keys.ts'

// KEYS[1]: the conversation's sequence, KEYS[2]: its record of what was written, KEYS[3]: this
// write's own mark. ARGV: ttl, then field, sequence pairs; an empty sequence (a synchronous write)
// takes the next number, once: the mark keeps it, so a RECORD that ioredis sends again after a
// reconnect reuses it instead of taking a higher one (which would make an update accepted in
// between look older than it is, and leave it out). Keeps the larger. The sequence is kept alive
// as long as the record, so it can never restart below a number the record holds.
const RECORD = script('pdgOrderRecord', `
local now = tonumber(redis.call('get', KEYS[3]) or '')
for i = 2, #ARGV, 2 do
  local seq = tonumber(ARGV[i + 1])
  if seq == nil then
    if now == nil then
      now = redis.call('incr', KEYS[1])
      redis.call('set', KEYS[3], now, 'PX', 60000)
    end
    seq = now
  end
  local cur = tonumber(redis.call('hget', KEYS[2], ARGV[i]) or '0')
  if seq > cur then redis.call('hset', KEYS[2], ARGV[i], seq) end
end
redis.call('pexpire', KEYS[1], ARGV[1])
return redis.call('pexpire', KEYS[2], ARGV[1])`)

const NEXT = script('pdgOrderNext', `
local n = redis.call('incr', KEYS[1])
redis.call('pexpire', KEYS[1], ARGV[1])
return n`)

/**
 * The order of acceptance across replicas, per conversation: a counter and a hash of what was
 * written, beside the conversation's lock in one cluster slot (`{c:<id>}`).
 */
export class RedisOrder implements Order {
  readonly #redis: RedisClient
  readonly #layout: RedisKeys

  constructor (redis: RedisClient, prefix: string) {
    this.#redis = redis
    this.#layout = redisKeys(prefix)
  }

  async next (conversationId: string): Promise<number> {
    return Number(await NEXT(this.#redis, [this.#layout.order(conversationId).seq], [ORDER_TTL_MS]))
  }

  async unsuperseded (conversationId: string, participantId: string, changes: Attributes, seqs: Sequences): Promise<Attributes> {
    const keys = Object.keys(changes)
    if (keys.length === 0) return changes
    const recorded = await this.#redis.hmget(this.#layout.order(conversationId).written, ...keys.map((k) => `${participantId}\n${k}`))
    return Object.fromEntries(keys.flatMap((k, i) => (Number(recorded[i] ?? 0) > (seqs[k] ?? Infinity) ? [] : [[k, changes[k]!]])))
  }

  async written (conversationId: string, participantId: string, keys: string[], seqs: Sequences): Promise<void> {
    if (keys.length === 0) return
    const pairs = keys.flatMap((k) => [`${participantId}\n${k}`, seqs[k] === undefined ? '' : String(seqs[k])])
    const { seq, written, mark } = this.#layout.order(conversationId)
    await RECORD(this.#redis, [seq, written, mark(randomUUID())], [ORDER_TTL_MS, ...pairs])
  }
}
