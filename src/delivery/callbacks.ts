/**
 * Outcome callbacks (docs/crm.md, "Outcome callbacks"): when an asynchronous update of a key with a `callbackUrl`
 * settles, one event is POSTed there, signed as Standard Webhooks have it, at least once.
 *
 * 1. **Due list**: settling an update puts its id on the callbacks' own due list in the same
 *    atomic step that settles it (Redis: the delivery store's FINISH script; memory: at once).
 * 2. **Claim**: a replica takes a due event by pushing its due time a lease (30 s) ahead; a
 *    replica killed mid-callback lets it lapse and another sends it. A send ends well within it.
 * 3. **Send**: `webhook-id` is `msg_<update id>`, the same at every attempt (receivers dedupe on
 *    it); the body is built from the settled record, which never changes, so it is the same too.
 * 4. **Retry**: the Svix schedule (at once, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h…), the last
 *    attempt at 24 h from settling. A 2xx ends it; a 410 stops the key's callbacks (until its
 *    callbackUrl changes); anything else, a redirect included (never followed), is retried.
 * 5. Callbacks have their own concurrency and connection pool, and never touch the Genesys budget.
 */
import { isIP } from 'node:net'
import { performance } from 'node:perf_hooks'
import { request, type Dispatcher } from 'undici'
import { Webhook } from 'standardwebhooks'
import type { Clock, Timer } from '../clock.ts'
import { isPrivateAddress } from './callback-url.ts'
import { KEEP_SETTLED_MS, urlMark, type Delivery, type CallbackClaim, type CallbackState, type CallbackStateName, type CallbackStore } from '../coordination/index.ts'

export type { CallbackClaim, CallbackState, CallbackStateName, CallbackStore }

/** The Svix schedule: the pause before attempt n+1 after attempt n (1-based), the last repeated. */
export const SCHEDULE_MS = [0, 5_000, 5 * 60_000, 30 * 60_000, 2 * 3_600_000, 5 * 3_600_000, 10 * 3_600_000]
/** From settling: retries end here, a minute before the update's record (the event's body) expires. */
export const CALLBACK_WINDOW_MS = KEEP_SETTLED_MS - 60_000
export const CALLBACK_LEASE_MS = 30_000
/** A receiver answers within this, or the attempt failed; well inside the lease. */
export const CALLBACK_TIMEOUT_MS = 5_000
/** The receiver's answer is read no further than this, then dropped. */
export const ANSWER_BYTES = 4096

/** When the next attempt is due after `attempts` made, the last at `now`; undefined: give up. */
export function nextAttempt (attempts: number, now: number, settledAt: number): number | undefined {
  const deadline = settledAt + CALLBACK_WINDOW_MS
  if (now >= deadline) return undefined
  return Math.min(now + SCHEDULE_MS[Math.min(attempts, SCHEDULE_MS.length - 1)]!, deadline)
}

export interface CallbackView {
  state: CallbackStateName
  attempts: number
  lastStatus?: number
  lastError?: string
  lastAttemptAt?: string
  nextAttemptAt?: string
  deliveredAt?: string
}

/** What GET /updates/{id} shows of the callback. */
export function callbackView (c: CallbackState): CallbackView {
  const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString())
  return {
    state: c.state,
    attempts: c.attempts,
    ...(c.lastStatus !== undefined && c.state !== 'delivered' && { lastStatus: c.lastStatus }),
    ...(c.lastError !== undefined && c.state !== 'delivered' && { lastError: c.lastError }),
    ...(c.lastAttemptAt !== undefined && { lastAttemptAt: iso(c.lastAttemptAt) }),
    ...(c.nextAttemptAt !== undefined && c.state === 'pending' && { nextAttemptAt: iso(c.nextAttemptAt) }),
    ...(c.deliveredAt !== undefined && { deliveredAt: iso(c.deliveredAt) }),
  }
}

/** A key's receiver, and its URL's fingerprint (a 410 stops callbacks to this URL, not to the next one configured). */
export type Receiver = { url: string; secret: string }
export { urlMark }

export interface SenderOptions {
  clock: Clock
  /** Each key's receiver by key name. */
  receivers: ReadonlyMap<string, Receiver>
  /** The settled update, as stored; undefined once it is gone. */
  update: (id: string) => Promise<Delivery | undefined>
  /** The update as GET /updates/{id} shows it: the event's `data`. */
  view: (d: Delivery) => unknown
  /** The callbacks' own pool (callback-url.ts: it checks every address it connects to). */
  dispatcher: Dispatcher
  allowPrivate: boolean
  /** Events this replica sends at once. */
  concurrency: number
  pollMs?: number
  onError: (err: unknown) => void
  /** Told of each attempt once recorded: for the metrics and the log. */
  onAttempt?: (s: CallbackState, caller: string) => void
}

/** The event, the same bytes at every attempt: everything in it is the settled record's. */
export function eventBody (d: Delivery, view: (d: Delivery) => unknown): string {
  return JSON.stringify({ type: d.state === 'written' ? 'update.written' : 'update.failed', timestamp: new Date(d.settledAt ?? d.acceptedAt).toISOString(), data: view(d) })
}

/**
 * Claims due events and sends each, up to `limit` at once, when woken and every pollMs. Like the
 * delivery scheduler, callbacks yield to requests, more: at each poll the limit halves (to 0:
 * none sent, but for one a second) while the event loop was over 80% busy, else rises by a tenth
 * of `concurrency`; events wait in the store meanwhile (pdg_callbacks_pending). Without it, a
 * quick `npm run bench` measured async acceptance with callbacks on at 70% of its req/s with
 * them off: each accepted update costs a signed POST, sent while requests waited.
 */
export class CallbackSender {
  readonly #store: CallbackStore
  readonly #opts: SenderOptions & { pollMs: number }
  readonly #running = new Set<Promise<void>>()
  readonly #poll: Timer
  #looking = false
  #again = false
  #stopped = false
  #elu = performance.eventLoopUtilization()
  #polls = 0
  /** Sends it starts at once now. */
  limit: number

  constructor (store: CallbackStore, opts: SenderOptions) {
    this.#store = store
    this.#opts = { pollMs: 100, ...opts }
    this.limit = opts.concurrency
    this.#poll = opts.clock.every(this.#opts.pollMs, () => {
      const now = performance.eventLoopUtilization()
      const busy = performance.eventLoopUtilization(now, this.#elu).utilization > 0.8
      this.#elu = now
      this.limit = busy ? this.limit >> 1 : Math.min(opts.concurrency, this.limit + Math.ceil(opts.concurrency / 10))
      // A trickle even under load (one send a second at least), so a replica busy for long still sends.
      if (++this.#polls % 10 === 0) this.limit = Math.max(1, this.limit)
      this.wake()
    })
  }

  /** Looks for due events now; while it is looking, once more right after. */
  wake (): void {
    if (this.#stopped) return
    if (this.#looking) {
      this.#again = true
      return
    }
    this.#looking = true
    this.#again = false
    this.#claim().catch(this.#opts.onError).finally(() => {
      this.#looking = false
      if (this.#again) this.wake()
    })
  }

  /** Attempts under way. */
  get running (): number {
    return this.#running.size
  }

  async #claim (): Promise<void> {
    const { clock } = this.#opts
    for (let free = this.limit - this.#running.size; free > 0 && !this.#stopped; free = this.limit - this.#running.size) {
      const claims = await this.#store.claim(clock.now(), CALLBACK_LEASE_MS, free)
      for (const claim of claims) {
        const run: Promise<void> = this.#send(claim).catch(this.#opts.onError).finally(() => {
          this.#running.delete(run)
          this.wake()
        })
        this.#running.add(run)
      }
      if (claims.length < free) return
    }
  }

  async #send (claim: CallbackClaim): Promise<void> {
    const { clock, receivers } = this.#opts
    const [d, before] = await Promise.all([this.#opts.update(claim.id), this.#store.get(claim.id)])
    const s: CallbackState = before ?? { id: claim.id, state: 'pending', attempts: 0 }
    if (s.state !== 'pending') return this.#store.record(claim, s)
    const receiver = d && receivers.get(d.caller)
    const giveUp = (why: string) => this.#record(claim, { ...s, state: 'failed', lastError: why }, d?.caller ?? '')
    if (d === undefined) return giveUp('the update is no longer kept (24 h after it settled)')
    if (receiver === undefined) return giveUp(`API key "${d.caller}" has no callbackUrl now`)
    if (await this.#store.stopped(d.caller, receiver.url)) return giveUp('the receiver answered 410 Gone to an earlier event: this key\'s callbacks are stopped until its callbackUrl changes')
    const now = clock.now()
    const { status, error } = await this.#post(d, receiver, now)
    const attempts = s.attempts + 1
    const tried: CallbackState = { ...s, attempts, lastAttemptAt: now, lastStatus: status }
    delete tried.lastError
    delete tried.nextAttemptAt
    if (status >= 200 && status < 300) return this.#record(claim, { ...tried, state: 'delivered', deliveredAt: clock.now() }, d.caller)
    if (status === 410) {
      await this.#store.stop(d.caller, receiver.url)
      return this.#record(claim, { ...tried, state: 'failed', lastError: 'the receiver answered 410 Gone: this key\'s callbacks are stopped until its callbackUrl changes' }, d.caller)
    }
    const why = error ?? (status >= 300 && status < 400 ? `answered ${status}; redirects are not followed` : `answered ${status}`)
    const next = nextAttempt(attempts, clock.now(), d.settledAt ?? d.acceptedAt)
    if (next === undefined) return this.#record(claim, { ...tried, state: 'failed', lastError: `${why}; given up 24 h after the update settled` }, d.caller)
    return this.#record(claim, { ...tried, lastError: why, nextAttemptAt: next }, d.caller)
  }

  async #record (claim: CallbackClaim, s: CallbackState, caller: string): Promise<void> {
    await this.#store.record(claim, s)
    this.#opts.onAttempt?.(s, caller)
  }

  /** One POST; the status (0 when no answer came) and, when it failed, why. */
  async #post (d: Delivery, receiver: Receiver, now: number): Promise<{ status: number; error?: string }> {
    const url = new URL(receiver.url)
    const host = url.hostname.replace(/^\[|\]$/g, '')
    // A literal address is connected to without a lookup, so the pool's check never sees it.
    if (!this.#opts.allowPrivate && isIP(host) !== 0 && isPrivateAddress(host)) return { status: 0, error: `${host} is a loopback, link-local or private address; not called` }
    const body = eventBody(d, this.#opts.view)
    const msgId = `msg_${d.id}`
    const headers = {
      'content-type': 'application/json',
      'user-agent': 'participant-data-gateway-callbacks',
      'webhook-id': msgId,
      'webhook-timestamp': String(Math.floor(now / 1000)),
      'webhook-signature': new Webhook(receiver.secret).sign(msgId, new Date(now), body),
    }
    try {
      const res = await request(url, { method: 'POST', headers, body, dispatcher: this.#opts.dispatcher })
      // A few KB at most: the answer means nothing beyond its status, and a receiver must not hold us.
      let read = 0
      for await (const chunk of res.body) {
        read += (chunk as Buffer).length
        if (read >= ANSWER_BYTES) break
      }
      res.body.destroy()
      return { status: res.statusCode }
    } catch (err) {
      const e = err as NodeJS.ErrnoException & { cause?: NodeJS.ErrnoException }
      const code = e.code ?? e.cause?.code
      return { status: 0, error: code === 'CALLBACK_ADDRESS_REFUSED' || e.cause?.code === 'CALLBACK_ADDRESS_REFUSED' ? (e.cause?.message ?? e.message) : `no answer (${code ?? e.message})` }
    }
  }

  /** Shutdown has begun: no new claims (what is due is left for the other replicas, or this one restarted). */
  stop (): void {
    this.#stopped = true
    this.#poll.cancel()
  }

  /** Waits, at most `withinMs`, for sends under way; one cut short lapses with its lease and is sent again. */
  async close (withinMs = 2000): Promise<void> {
    this.stop()
    const timer = new Promise<void>((resolve) => {
      const t = this.#opts.clock.after(withinMs, resolve, { keepAlive: false })
      void Promise.allSettled([...this.#running]).then(() => t.cancel())
    })
    await Promise.race([Promise.allSettled([...this.#running]), timer])
  }
}
