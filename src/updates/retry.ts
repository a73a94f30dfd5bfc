import { setTimeout as sleep } from 'node:timers/promises'
import { UpstreamError, type Retryable } from '../genesys/upstream-error.js'

export interface RetryPolicyOptions {
  /** Re-reads after a 409 before a write gives up with UPSTREAM_CONFLICT. */
  conflictRetries: number
  /** Attempts in all, whatever the causes, however long the deadline. */
  maxAttempts?: number
  /** First pause; it doubles with each failure up to maxDelayMs, and each is jittered ±50%. */
  baseDelayMs?: number
  maxDelayMs?: number
  clock?: () => number
  random?: () => number
}

export interface Retry {
  cause: Retryable
  delayMs: number
}

/**
 * When a failed upstream exchange is tried again, and after how long: the whole retry policy,
 * in one place, with the clock and the dice passed in so it is tested without waiting. Only a
 * Genesys failure (UpstreamError) that says why it may pass is retried; the pipeline's own
 * refusals (budget, lock, deadline) are final.
 *
 * - 409: the conversation changed under us; re-read, re-merge, retry (at most conflictRetries).
 * - 429: wait what Genesys asked (Retry-After or inin-ratelimit-reset), never less than the backoff.
 * - 500/502/503/504 and broken connections: retry. Safe even for a write that may have landed,
 *   because a write carries the participant's full map, not a delta.
 * - 401 from the API: the token was revoked; one retry, with a fresh token.
 * - Anything else (other 4xx, bad credentials, junk answers) would fail the same way again.
 *
 * A retry happens only if its pause ends before the deadline: a caller is better served by a
 * prompt, truthful failure than by an answer that arrives after its Data Action gave up.
 */
export class RetryPolicy {
  readonly #conflictRetries: number
  readonly #maxAttempts: number
  readonly #base: number
  readonly #max: number
  readonly #clock: () => number
  readonly #random: () => number

  constructor (opts: RetryPolicyOptions) {
    this.#conflictRetries = opts.conflictRetries
    this.#maxAttempts = opts.maxAttempts ?? 8
    this.#base = opts.baseDelayMs ?? 50
    this.#max = opts.maxDelayMs ?? 2000
    this.#clock = opts.clock ?? Date.now
    this.#random = opts.random ?? Math.random
  }

  /** A fresh count for one write: call `after(err, deadline)` on each failure. */
  begin (): Retries {
    let attempts = 1
    let conflicts = 0
    let tokens = 0
    return {
      after: (err, deadline) => {
        const cause = err instanceof UpstreamError ? err.retryable : undefined
        if (cause === undefined || attempts >= this.#maxAttempts) return undefined
        if (cause === 'conflict' && ++conflicts > this.#conflictRetries) return undefined
        if (cause === 'token' && ++tokens > 1) return undefined
        const backoff = Math.min(this.#base * 2 ** (attempts - 1), this.#max) * (0.5 + this.#random())
        const asked = cause === 'rate_limited' ? ((err as UpstreamError).retryAfter ?? 0) * 1000 : 0
        const delayMs = Math.round(Math.max(backoff, asked))
        if (this.#clock() + delayMs >= deadline) return undefined
        attempts++
        return { cause, delayMs }
      },
    }
  }
}

export interface Retries {
  /** The pause before the next attempt, or undefined when `err` is final. */
  after(err: unknown, deadline: number): Retry | undefined
}

/**
 * Runs `attempt` until it succeeds or the policy says the failure is final, pausing as it says.
 * Undefined when, after a failure, nobody is left waiting for the outcome (`gone`).
 */
export async function withRetries<T> (
  policy: RetryPolicy,
  deadline: () => number,
  gone: () => boolean,
  attempt: () => Promise<T>,
  onRetry?: (retry: Retry) => void
): Promise<T | undefined> {
  const retries = policy.begin()
  for (;;) {
    try {
      return await attempt()
    } catch (err) {
      if (gone()) return undefined
      const retry = retries.after(err, deadline())
      if (retry === undefined) throw err
      onRetry?.(retry)
      await sleep(retry.delayMs)
    }
  }
}
