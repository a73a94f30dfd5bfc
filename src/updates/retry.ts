import { systemClock, type Clock } from '../clock.ts'
import { CATALOGUE, type ApiError, type ErrorCode } from '../errors.ts'
import { UpstreamError, type Retryable } from '../genesys/index.ts'
import { toApiError } from './answer.ts'

export interface RetryPolicyOptions {
  /** Re-reads after a 409 before a write gives up with UPSTREAM_CONFLICT. */
  conflictRetries: number
  /** Attempts in all, whatever the causes, however long the deadline. */
  maxAttempts?: number
  /** First pause; it doubles with each failure up to maxDelayMs, and each is jittered ±50%. */
  baseDelayMs?: number
  maxDelayMs?: number
  /** For now, and for the pauses withRetries takes. */
  clock?: Clock
  random?: () => number
}

export interface Backoff {
  /** The first pause; it doubles with each failure up to maxMs. */
  baseMs: number
  maxMs: number
  random: () => number
}

/**
 * The one backoff of the service, for synchronous retries and asynchronous deliveries alike:
 * after the `failures`-th failure, base × 2^(failures-1), capped, jittered ±50%; never shorter
 * than what the other side asked (`retryAfterS`, seconds).
 */
export function backoff ({ baseMs, maxMs, random }: Backoff, failures: number, retryAfterS = 0): number {
  return Math.round(Math.max(Math.min(baseMs * 2 ** (failures - 1), maxMs) * (0.5 + random()), retryAfterS * 1000))
}

/** A retryable Genesys failure, named for the metrics and traces. */
function causeOf (err: UpstreamError, code: ErrorCode): Retryable {
  if (code === 'UPSTREAM_CONFLICT') return 'conflict'
  if (code === 'UPSTREAM_RATE_LIMITED') return 'rate_limited'
  if (code === 'UPSTREAM_AUTH_FAILED') return 'token'
  return err.kind === 'network' ? 'network' : 'server'
}

export interface Retry {
  cause: Retryable
  delayMs: number
}

/**
 * When a failed upstream exchange is tried again, and after how long, with the clock and the
 * dice passed in so it is tested without waiting. Only a Genesys failure (UpstreamError) is
 * retried here, and only when the catalogue entry of the code it answers with is retryable;
 * the pipeline's own refusals (budget, lock, deadline) are answered at once (asynchronous
 * delivery tries those again later, by the same catalogue entry and backoff).
 *
 * - UPSTREAM_CONFLICT (409): re-read, re-merge, retry (at most conflictRetries).
 * - UPSTREAM_RATE_LIMITED (429): wait what Genesys asked, never less than the backoff.
 * - UPSTREAM_ERROR / UPSTREAM_OUTCOME_UNKNOWN (5xx, broken connections): retry. Safe even for a
 *   write that may have landed, because a write carries the participant's full map, not a delta.
 * - UPSTREAM_AUTH_FAILED (a 401: the token was revoked): one retry, with a fresh token.
 *
 * A retry happens only if its pause ends before the deadline: a caller is better served by a
 * prompt, truthful failure than by an answer that arrives after its Data Action gave up.
 */
export class RetryPolicy {
  readonly clock: Clock
  readonly #conflictRetries: number
  readonly #maxAttempts: number
  readonly #base: number
  readonly #max: number
  readonly #random: () => number

  constructor (opts: RetryPolicyOptions) {
    this.#conflictRetries = opts.conflictRetries
    this.#maxAttempts = opts.maxAttempts ?? 8
    this.#base = opts.baseDelayMs ?? 50
    this.#max = opts.maxDelayMs ?? 2000
    this.clock = opts.clock ?? systemClock
    this.#random = opts.random ?? Math.random
  }

  /** A fresh count for one write: call `after(err, deadline)` on each failure. */
  begin (): Retries {
    let attempts = 1
    let conflicts = 0
    let tokens = 0
    return {
      after: (err, deadline) => {
        if (!(err instanceof UpstreamError) || attempts >= this.#maxAttempts) return undefined
        const { code } = toApiError(err) as ApiError
        if (!CATALOGUE[code].retryable) return undefined
        const cause = causeOf(err, code)
        if (cause === 'conflict' && ++conflicts > this.#conflictRetries) return undefined
        if (cause === 'token' && ++tokens > 1) return undefined
        const delayMs = backoff({ baseMs: this.#base, maxMs: this.#max, random: this.#random }, attempts, cause === 'rate_limited' ? err.retryAfter : 0)
        if (this.clock.now() + delayMs >= deadline) return undefined
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
      await policy.clock.sleep(retry.delayMs)
    }
  }
}
