import type { RedisClient } from './redis.ts'
import type { Entry, JournalStore } from './journal.ts'
import { redisKeys, type RedisKeys } from './keys.ts'

/**
 * The read-your-writes journal shared by replicas, so that a write's entries outlive its
 * replica and a restart: one hash per conversation, beside its lock and order in one cluster slot
 * (`{c:<id>}`), a field per participant and key. Entries carry their own expiry; the hash
 * expires once the last of them has.
 */
export class RedisJournalStore implements JournalStore {
  readonly #redis: RedisClient
  readonly #keys: RedisKeys

  constructor (redis: RedisClient, prefix: string) {
    this.#redis = redis
    this.#keys = redisKeys(prefix)
  }

  #key (conversationId: string): string {
    return this.#keys.journal(conversationId)
  }

  async entries (conversationId: string, participantId: string): Promise<Map<string, Entry>> {
    const all = await this.#redis.hgetall(this.#key(conversationId))
    const mine = `${participantId}\n`
    const entries = new Map<string, Entry>()
    for (const [field, json] of Object.entries(all)) {
      if (field.startsWith(mine)) entries.set(field.slice(mine.length), JSON.parse(json) as Entry)
    }
    return entries
  }

  async update (conversationId: string, participantId: string, entries: Map<string, Entry>, forget: string[], ttlMs: number): Promise<void> {
    const key = this.#key(conversationId)
    const tx = this.#redis.multi()
    if (forget.length > 0) tx.hdel(key, ...forget.map((k) => `${participantId}\n${k}`))
    if (entries.size > 0) {
      tx.hset(key, Object.fromEntries([...entries].map(([k, e]) => [`${participantId}\n${k}`, JSON.stringify(e)])))
      tx.pexpire(key, ttlMs)
    }
    const results = await tx.exec()
    const failed = results?.find(([err]) => err !== null)?.[0]
    if (failed) throw failed
  }
}
