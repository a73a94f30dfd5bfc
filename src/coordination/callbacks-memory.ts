import { KEEP_SETTLED_MS, type Delivery } from './delivery.ts'
import type { CallbackClaim, CallbackState, CallbackStore } from './callbacks.ts'

/**
 * Callback events in this process's memory, beside the memory delivery store: lost with the
 * process, as the updates are (sandbox and development only).
 */
export class MemoryCallbackStore implements CallbackStore {
  /** id → when it is next due; insertion order is the order they became due. */
  readonly #due = new Map<string, number>()
  readonly #states = new Map<string, { s: CallbackState; at: number }>()
  readonly #stops = new Map<string, string>()
  #recorded = 0

  settled (d: Delivery, now: number): void {
    if (!this.#states.has(d.id) && !this.#due.has(d.id)) this.#due.set(d.id, now)
  }

  async claim (now: number, leaseMs: number, limit: number): Promise<CallbackClaim[]> {
    const claims: CallbackClaim[] = []
    for (const [id, at] of this.#due) {
      if (claims.length >= limit) break
      if (at > now) continue
      this.#due.set(id, now + leaseMs)
      claims.push({ id, until: now + leaseMs })
    }
    return claims
  }

  async get (id: string): Promise<CallbackState | undefined> {
    const s = this.#states.get(id)?.s
    return s && { ...s }
  }

  async record ({ id, until }: CallbackClaim, s: CallbackState): Promise<void> {
    const now = s.lastAttemptAt ?? until
    const cur = this.#states.get(id)?.s
    if (cur === undefined || cur.state === 'pending') this.#states.set(id, { s: { ...s }, at: now })
    if (this.#due.get(id) !== until) return
    if (s.state === 'pending') this.#due.set(id, s.nextAttemptAt ?? now)
    else this.#due.delete(id)
    // A day after their last change, states are forgotten, as the updates are.
    if (++this.#recorded % 1000 === 0) for (const [k, v] of this.#states) if (v.at < now - KEEP_SETTLED_MS && !this.#due.has(k)) this.#states.delete(k)
  }

  async stop (caller: string, url: string): Promise<void> {
    this.#stops.set(caller, url)
  }

  async stopped (caller: string, url: string): Promise<boolean> {
    return this.#stops.get(caller) === url
  }

  async backlog (): Promise<{ count: number }> {
    return { count: this.#due.size }
  }
}
