import { systemClock, type Clock } from '../clock.ts'
import { highestSeq, KEEP_SETTLED_MS, RECENT_KEPT, settled, toKeep, type Acceptance, type Claim, type Delivery, type DeliveryStore, type Page } from './delivery.ts'

/** Stored apart from the caller's object, as Redis would. Shallow: nothing changes `changes`, `target` or `error` in place. */
const copy = (d: Delivery): Delivery => ({ ...d })

/**
 * Updates in this process's memory: lost with it, so only for sandbox and development (start-up
 * says so). The same rules as the Redis store (redis.ts), which the same tests hold it to.
 */
export class MemoryDeliveryStore implements DeliveryStore {
  /** Insertion order is acceptance order. */
  readonly #all = new Map<string, Delivery>()
  /** Those not settled, by conversation, in acceptance order. */
  readonly #pending = new Map<string, Map<string, Delivery>>()
  /** The due list: conversation → when it is next to be attempted. */
  readonly #due = new Map<string, number>()
  readonly #now: () => number
  #accepted = 0
  #count = 0
  /** Pending updates by caller: each key's share of the backlog. */
  readonly #callers = new Map<string, number>()

  constructor (opts: { clock?: Clock } = {}) {
    this.#now = (opts.clock ?? systemClock).now
  }

  async accept (d: Delivery, maxBacklog: number, maxPerCaller = Infinity): Promise<Acceptance> {
    // One stored already (sent again after a lost answer) stays as it is, as in Redis: resetting
    // a settled one to queued would write it again.
    if (this.#all.has(d.id)) return true
    if (this.#count >= maxBacklog) return 'backlog'
    if ((this.#callers.get(d.caller) ?? 0) >= maxPerCaller) return 'share'
    if (++this.#accepted % 1000 === 0) this.#sweep() // settled ones are forgotten a day after settling
    this.#put(copy(d))
    if (!this.#due.has(d.conversationId)) this.#due.set(d.conversationId, d.acceptedAt)
    return true
  }

  async claim (leaseMs: number, limit: number): Promise<Claim[]> {
    const now = this.#now()
    const claims: Claim[] = []
    for (const [conversationId, at] of this.#due) {
      if (claims.length >= limit) break
      if (at > now) continue
      this.#due.set(conversationId, now + leaseMs)
      claims.push({ conversationId, until: now + leaseMs, lease: now + leaseMs })
    }
    return claims
  }

  async pending (conversationId: string): Promise<Delivery[]> {
    return [...(this.#pending.get(conversationId)?.values() ?? [])].map(copy)
  }

  async finish ({ conversationId: c, lease }: Claim, deliveries: Delivery[], retryAt: number): Promise<void> {
    for (const d of deliveries) {
      const stored = this.#all.get(d.id)
      // As in Redis: a late outcome of an earlier attempt leaves a later one's record alone.
      if (stored !== undefined && !settled(stored) && d.attempts >= stored.attempts) this.#put(copy(toKeep(d)))
    }
    if (this.#due.get(c) !== lease) return // the claim lapsed: no longer this attempt's to end
    const left = [...(this.#pending.get(c)?.values() ?? [])]
    if (left.length === 0) this.#due.delete(c)
    else this.#due.set(c, left.some((d) => d.seq > highestSeq(deliveries)) ? this.#now() : retryAt)
  }

  async get (id: string): Promise<Delivery | undefined> {
    const d = this.#all.get(id)
    return d === undefined || this.#expired(d) ? undefined : copy(d)
  }

  async list (caller: string, state: 'failed', offset: number, limit: number): Promise<Page> {
    const mine = this.#newest((d) => d.caller === caller && d.state === state)
    const items = mine.slice(offset, offset + limit)
    return offset + limit < mine.length ? { items, next: offset + limit } : { items }
  }

  async recent (caller: string, limit: number, conversationId?: string): Promise<Delivery[]> {
    const mine = this.#newest((d) => d.caller === caller && (conversationId === undefined || d.conversationId === conversationId))
    return mine.slice(0, Math.min(limit, RECENT_KEPT))
  }

  /** The oldest: each conversation's first pending update. */
  async backlog (): Promise<{ count: number; oldest?: number }> {
    const firsts = [...this.#pending.values()].map((c) => c.values().next().value!.acceptedAt)
    return this.#count === 0 ? { count: 0 } : { count: this.#count, oldest: firsts.reduce((a, b) => Math.min(a, b)) }
  }

  /** Those that match, newest accepted first. */
  #newest (match: (d: Delivery) => boolean): Delivery[] {
    return [...this.#all.values()].filter((d) => match(d) && !this.#expired(d)).reverse().map(copy)
  }

  #put (d: Delivery): void {
    this.#all.set(d.id, d)
    const c = this.#pending.get(d.conversationId) ?? new Map<string, Delivery>()
    const change = settled(d) ? -Number(c.delete(d.id)) : Number(!c.has(d.id))
    this.#count += change
    const mine = (this.#callers.get(d.caller) ?? 0) + change
    if (mine === 0) this.#callers.delete(d.caller)
    else this.#callers.set(d.caller, mine)
    if (!settled(d)) this.#pending.set(d.conversationId, c.set(d.id, d))
    else if (c.size === 0) this.#pending.delete(d.conversationId)
  }

  #expired (d: Delivery): boolean {
    return d.settledAt !== undefined && this.#now() - d.settledAt > KEEP_SETTLED_MS
  }

  #sweep (): void {
    for (const [id, d] of this.#all) if (this.#expired(d)) this.#all.delete(id)
  }
}
