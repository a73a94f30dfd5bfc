import { KEEP_SETTLED_MS, RECENT_KEPT, settled, toKeep, type Delivery, type DeliveryStore, type Page } from './store.js'

/**
 * Stored apart from the caller's object, as Redis would. Shallow: nothing changes an update's
 * `changes`, `target` or `error` in place (the worker sets top-level fields only).
 */
const copy = (d: Delivery): Delivery => ({ ...d })

/**
 * Updates in this process's memory: lost with it, so only for sandbox and development (start-up
 * says so). Settled updates are swept a day after settling.
 */
export class MemoryDeliveryStore implements DeliveryStore {
  /** Insertion order is acceptance order: the first pending one is the oldest. */
  readonly #all = new Map<string, Delivery>()
  /** Those not settled, by conversation, in acceptance order. */
  readonly #pending = new Map<string, Map<string, Delivery>>()
  #backlog = 0
  readonly #clock: () => number
  readonly #sweeper: NodeJS.Timeout

  constructor (opts: { clock?: () => number } = {}) {
    this.#clock = opts.clock ?? Date.now
    this.#sweeper = setInterval(() => this.#sweep(), 60_000).unref()
  }

  async add (delivery: Delivery, maxBacklog: number): Promise<'full' | 'stored'> {
    if (this.#backlog >= maxBacklog) return 'full'
    this.#put(copy(delivery))
    // The in-process scheduler knows by itself whether an attempt is due.
    return 'stored'
  }

  async get (id: string): Promise<Delivery | undefined> {
    const d = this.#all.get(id)
    if (d === undefined || this.#expired(d)) return undefined
    return copy(d)
  }

  async pending (conversationId: string): Promise<Delivery[]> {
    return [...(this.#pending.get(conversationId)?.values() ?? [])].map((d) => copy(d))
  }

  async discard (delivery: Delivery): Promise<void> {
    this.#all.delete(delivery.id)
    this.#unpend(delivery)
  }

  async save (deliveries: Delivery[]): Promise<void> {
    for (const d of deliveries) {
      const stored = this.#all.get(d.id)
      // As in Redis: a settled record is never changed again, nor one gone.
      if (stored !== undefined && !settled(stored)) this.#put(copy(toKeep(d)))
    }
  }

  async list (caller: string, state: 'failed', offset: number, limit: number): Promise<Page> {
    const mine = [...this.#all.values()].filter((d) => d.caller === caller && d.state === state && !this.#expired(d)).reverse()
    const items = mine.slice(offset, offset + limit).map((d) => copy(d))
    return offset + limit < mine.length ? { items, next: offset + limit } : { items }
  }

  async recent (caller: string, limit: number, conversationId?: string): Promise<Delivery[]> {
    const ours = (d: Delivery) => d.caller === caller && (conversationId === undefined || d.conversationId === conversationId)
    const mine = [...this.#all.values()].filter((d) => ours(d) && !this.#expired(d))
    return mine.slice(-Math.min(limit, RECENT_KEPT)).reverse().map((d) => copy(d))
  }

  async stale (from: number, before: number, limit: number): Promise<{ conversations: string[]; last?: number }> {
    const found = [...this.#pending.values()].flatMap((c) => [...c.values()]).filter((d) => d.acceptedAt > from && d.acceptedAt < before)
    const page = found.sort((x, y) => x.acceptedAt - y.acceptedAt).slice(0, limit)
    const conversations = [...new Set(page.map((d) => d.conversationId))]
    return page.length < limit ? { conversations } : { conversations, last: page.at(-1)!.acceptedAt }
  }

  async backlog (): Promise<number> {
    return this.#backlog
  }

  async oldestPending (): Promise<number | undefined> {
    let oldest: number | undefined
    for (const c of this.#pending.values()) for (const d of c.values()) oldest = Math.min(oldest ?? Infinity, d.acceptedAt)
    return oldest
  }

  close (): void {
    clearInterval(this.#sweeper)
  }

  #put (d: Delivery): void {
    this.#all.set(d.id, d)
    if (settled(d)) return this.#unpend(d)
    let c = this.#pending.get(d.conversationId)
    if (c === undefined) this.#pending.set(d.conversationId, (c = new Map()))
    if (!c.has(d.id)) this.#backlog++
    c.set(d.id, d)
  }

  #unpend (d: Delivery): void {
    const c = this.#pending.get(d.conversationId)
    if (c?.delete(d.id) !== true) return
    this.#backlog--
    if (c.size === 0) this.#pending.delete(d.conversationId)
  }

  #expired (d: Delivery): boolean {
    return d.settledAt !== undefined && this.#clock() - d.settledAt > KEEP_SETTLED_MS
  }

  #sweep (): void {
    for (const [id, d] of this.#all) if (this.#expired(d)) this.#all.delete(id)
  }
}
