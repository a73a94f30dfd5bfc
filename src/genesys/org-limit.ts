import type { Clock, Timer } from '../clock.ts'
import type { Reading, ReadingStore } from '../coordination/index.ts'

/**
 * The org's own rate limit for this token, read from Genesys's Limits API at start-up and hourly,
 * so the budget starts right instead of learning it from 429s. GENESYS_RATE_LIMIT_PER_MINUTE, when
 * set, is a ceiling the gateway never exceeds whatever the org allows; unset, the org's limit is
 * the budget. Until an answer comes, or when the API is refused (a 403 on an older permission
 * model, a network failure), the budget is the configured value, or Genesys's default 300.
 */

/** Where the limit in force comes from: the org's Limits API, GENESYS_RATE_LIMIT_PER_MINUTE, or Genesys's default. */
export type LimitSource = 'org' | 'configured' | 'default'

/** Genesys's per-token default (docs/api.md, "Rate budget"). */
export const GENESYS_DEFAULT_LIMIT = 300

export interface OrgLimitOptions {
  /** GENESYS_RATE_LIMIT_PER_MINUTE: a ceiling; undefined takes the org's. */
  configured: number | undefined
  /** One read of the Limits API (through the request budget); undefined when it names no limit. */
  ask: () => Promise<number | undefined>
  store: ReadingStore
  clock: Clock
  /** How often the org is asked again. */
  refreshMs?: number
  /** How often the store is looked at, so a reading another replica made is used within this. */
  pollMs: number
  /** The limit to spend by, and where it came from; called when either changes. */
  apply: (limit: number, source: LimitSource, why: string) => void
}

const HOUR = 3_600_000
/** A failed read is tried again this much sooner than an answered one. */
const FAILED_RETRY_MS = 5 * 60_000

export class OrgLimit {
  readonly #opts: OrgLimitOptions
  #timer: Timer | undefined
  #applied = ''
  #checking: Promise<void> | undefined

  constructor (opts: OrgLimitOptions) {
    this.#opts = opts
  }

  /** The limit before any reading: configured, else Genesys's default. */
  get initial (): { limit: number; source: LimitSource } {
    const { configured } = this.#opts
    return configured === undefined ? { limit: GENESYS_DEFAULT_LIMIT, source: 'default' } : { limit: configured, source: 'configured' }
  }

  /** Reads (or asks) now, then looks again every `pollMs`; never rejects. */
  start (): Promise<void> {
    this.#timer = this.#opts.clock.every(this.#opts.pollMs, () => { this.check().catch(() => {}) })
    return this.check()
  }

  close (): void {
    this.#timer?.cancel()
  }

  /** Uses the newest reading; asks Genesys when it is due and this replica wins the claim. */
  check (): Promise<void> {
    this.#checking ??= this.#check().finally(() => (this.#checking = undefined))
    return this.#checking
  }

  async #check (): Promise<void> {
    const { store, clock, refreshMs = HOUR } = this.#opts
    let reading = await store.get().catch(() => undefined)
    const due = reading === undefined || clock.now() - reading.at >= (reading.value === undefined ? FAILED_RETRY_MS : refreshMs)
    if (due && (await store.claim(30_000).catch(() => false))) {
      reading = await this.#ask()
      await store.set(reading).catch(() => {})
    }
    if (reading !== undefined) this.#apply(reading)
  }

  async #ask (): Promise<Reading> {
    const at = this.#opts.clock.now()
    try {
      const value = await this.#opts.ask()
      return value === undefined ? { why: 'the Limits API named no client.credentials.token.rate.per.minute', at } : { value, at }
    } catch (err) {
      return { why: `the Limits API could not be read (${(err as Error).message})`, at }
    }
  }

  #apply ({ value, why }: Reading): void {
    const { configured } = this.#opts
    let next: [number, LimitSource, string]
    if (value === undefined) {
      const { limit, source } = this.initial
      next = [limit, source, `${why ?? 'no reading'}: spending ${source === 'configured' ? 'GENESYS_RATE_LIMIT_PER_MINUTE' : "Genesys's default"}, ${limit} a minute`]
    } else if (configured !== undefined && configured < value) {
      next = [configured, 'configured', `the org allows ${value} a minute; GENESYS_RATE_LIMIT_PER_MINUTE=${configured} keeps the gateway below it`]
    } else {
      next = [value, 'org', `the org allows ${value} a minute (Limits API)${configured === undefined ? '' : `, under GENESYS_RATE_LIMIT_PER_MINUTE=${configured}`}`]
    }
    const key = next.join('|')
    if (key === this.#applied) return
    this.#applied = key
    this.#opts.apply(...next)
  }
}
