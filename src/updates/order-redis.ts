import type { RedisClient } from '../plugins/redis.js'
import type { Attributes } from '../attributes/body.js'
import { ORDER_TTL_MS, type Order, type Sequences } from './order.js'

// KEYS[1]: the conversation's record; ARGV: ttl, then field, sequence pairs. Keeps the larger.
const RECORD = `
for i = 2, #ARGV, 2 do
  local cur = tonumber(redis.call('hget', KEYS[1], ARGV[i]) or '0')
  if tonumber(ARGV[i + 1]) > cur then redis.call('hset', KEYS[1], ARGV[i], ARGV[i + 1]) end
end
return redis.call('pexpire', KEYS[1], ARGV[1])`

/**
 * The order of acceptance across replicas: one counter (INCR, never expiring, so it never
 * restarts below a recorded number) and a hash per conversation of what was written.
 */
export class RedisOrder implements Order {
  readonly #redis: RedisClient
  readonly #prefix: string

  constructor (redis: RedisClient, prefix: string) {
    this.#redis = redis
    this.#prefix = prefix
  }

  next (): Promise<number> {
    return this.#redis.incr(`${this.#prefix}seq`)
  }

  async fresh (conversationId: string, participantId: string, changes: Attributes, seqs: Sequences): Promise<Attributes> {
    const keys = Object.keys(changes)
    // Without sequences (asynchronous delivery off) nothing can be older: no round trip.
    if (keys.length === 0 || Object.keys(seqs).length === 0) return changes
    const recorded = await this.#redis.hmget(`${this.#prefix}written:${conversationId}`, ...keys.map((k) => `${participantId}\n${k}`))
    return Object.fromEntries(keys.flatMap((k, i) => (Number(recorded[i] ?? 0) > (seqs[k] ?? Infinity) ? [] : [[k, changes[k]!]])))
  }

  async written (conversationId: string, participantId: string, seqs: Sequences): Promise<void> {
    const pairs = Object.entries(seqs).flatMap(([k, seq]) => [`${participantId}\n${k}`, String(seq)])
    if (pairs.length === 0) return
    await this.#redis.eval(RECORD, 1, `${this.#prefix}written:${conversationId}`, String(ORDER_TTL_MS), ...pairs)
  }
}
