import { KEEP_SETTLED_MS, RECENT_KEPT, settled, toKeep, type Delivery, type DeliveryStore, type Page } from './store.js'

/**
 * Updates in this process's memory: lost with it, so only for sandbox and development (start-up
 * says so). Settled updates are swept a day after settling.
 */
export class MemoryDeliveryStore implements DeliveryStore {
  /** Insertion order is acceptance order: the first pending one is the oldest. */
  readonly #all = new Map<string, Delivery>()
  readonly #pending = new Map<string, Delivery>()
  readonly #clock: () => number
  readonly #sweeper: NodeJS.Timeout

  constructor (opts: { clock?: () => number } = {}) {
    this.#clock = opts.clock ?? Date.now
    this.#sweeper = setInterval(() => this.#sweep(), 60_000).unref()
  }

  async add (delivery: Delivery): Promise<void> {
    this.#all.set(delivery.id, { ...delivery })
    this.#pending.set(delivery.id, this.#all.get(delivery.id)!)
  }

  async get (id: string): Promise<Delivery | undefined> {
    const d = this.#all.get(id)
    if (d === undefined || this.#expired(d)) return undefined
    return structuredClone(d)
  }

  async discard (id: string): Promise<void> {
    this.#all.delete(id)
    this.#pending.delete(id)
  }

  async save (delivery: Delivery): Promise<void> {
    const copy = structuredClone(toKeep(delivery))
    this.#all.set(delivery.id, copy)
    if (settled(copy)) this.#pending.delete(copy.id)
    else this.#pending.set(copy.id, copy)
  }

  async list (caller: string, state: 'failed', offset: number, limit: number): Promise<Page> {
    const mine = [...this.#all.values()].filter((d) => d.caller === caller && d.state === state && !this.#expired(d)).reverse()
    const items = mine.slice(offset, offset + limit).map((d) => structuredClone(d))
    return offset + limit < mine.length ? { items, next: offset + limit } : { items }
  }

  async recent (caller: string, limit: number, conversationId?: string): Promise<Delivery[]> {
    const ours = (d: Delivery) => d.caller === caller && (conversationId === undefined || d.conversationId === conversationId)
    const mine = [...this.#all.values()].filter((d) => ours(d) && !this.#expired(d))
    return mine.slice(-Math.min(limit, RECENT_KEPT)).reverse().map((d) => structuredClone(d))
  }

  async backlog (): Promise<number> {
    return this.#pending.size
  }

  async oldestPending (): Promise<number | undefined> {
    let oldest: number | undefined
    for (const d of this.#pending.values()) oldest = Math.min(oldest ?? Infinity, d.acceptedAt)
    return oldest
  }

  close (): void {
    clearInterval(this.#sweeper)
  }

  #expired (d: Delivery): boolean {
    return d.settledAt !== undefined && this.#clock() - d.settledAt > KEEP_SETTLED_MS
  }

  #sweep (): void {
    for (const [id, d] of this.#all) if (this.#expired(d)) this.#all.delete(id)
  }
}
