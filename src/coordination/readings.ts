import type { Clock } from '../clock.ts'
import type { RedisClient } from './redis.ts'
import { redisKeys } from './keys.ts'

const HOUR = 3_600_000

/** One reading of the Limits API: the limit, or why there is none; when it was made. */
export interface Reading {
  value?: number | undefined
  why?: string | undefined
  at: number
}

/** Shared by replicas through Redis (one asks, all use it), or this process's own. */
export interface ReadingStore {
  get(): Promise<Reading | undefined>
  /** True for the one replica that should ask now; held `ms` at most. */
  claim(ms: number): Promise<boolean>
  set(reading: Reading): Promise<void>
}

/** This process's own reading. */
export class MemoryReadingStore implements ReadingStore {
  readonly #clock: Clock
  #reading: Reading | undefined
  #claimedUntil = 0

  constructor (clock: Clock) {
    this.#clock = clock
  }

  async get (): Promise<Reading | undefined> {
    return this.#reading
  }

  async claim (ms: number): Promise<boolean> {
    if (this.#clock.now() < this.#claimedUntil) return false
    this.#claimedUntil = this.#clock.now() + ms
    return true
  }

  async set (reading: Reading): Promise<void> {
    this.#reading = reading
    this.#claimedUntil = 0
  }
}

/** Every replica's, beside the request budget in the `{genesys-api}` slot: one asks, all read it. */
export class RedisReadingStore implements ReadingStore {
  readonly #redis: RedisClient
  readonly #key: string
  readonly #asking: string

  constructor (redis: RedisClient, prefix: string) {
    this.#redis = redis
    const keys = redisKeys(prefix)
    this.#key = keys.orgLimit
    this.#asking = keys.orgLimitAsking
  }

  async get (): Promise<Reading | undefined> {
    const json = await this.#redis.get(this.#key)
    return json === null ? undefined : (JSON.parse(json) as Reading)
  }

  async claim (ms: number): Promise<boolean> {
    return (await this.#redis.set(this.#asking, '1', 'PX', ms, 'NX')) === 'OK'
  }

  async set (reading: Reading): Promise<void> {
    await this.#redis.multi().set(this.#key, JSON.stringify(reading), 'PX', 2 * HOUR).del(this.#asking).exec()
  }
}
