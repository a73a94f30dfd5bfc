import { setTimeout as sleep } from 'node:timers/promises'
import { Queue, Worker, type Job } from 'bullmq'
import type { RedisClient } from '../plugins/redis.js'
import type { Pacer } from './pace.js'
import type { Deliverer, Scheduler } from './worker.js'

export interface BullSchedulerOptions {
  /** A new client of the deployment's Redis, for BullMQ alone (it makes its blocking connection from it). */
  connect: () => RedisClient
  /**
   * BullMQ's key prefix: a cluster slot tag (`{…}`), since BullMQ's scripts touch many of its
   * keys at once; it also keeps deployments sharing a Redis apart.
   */
  prefix: string
  /**
   * The Deliverer's, made with `shed`: the worker takes as many jobs (conversations) as it holds
   * at once (fewer while the replica is busy), and those it turns away go back to wait, so that
   * jobs this replica could not start soon are left to the others.
   */
  pacer: Pacer
  /**
   * A replica that stopped renewing its jobs' locks (killed) loses them after lockMs; the
   * stalled check, every stalledMs, then gives them to any replica: lockMs + stalledMs < 30 s.
   */
  lockMs?: number
  stalledMs?: number
  onError?: (err: unknown) => void
}

/** Says when to try again (in ms); BullMQ's backoff strategy reads it. */
class TryAgain extends Error {
  constructor (readonly delayMs: number) {
    super('delivery not settled yet')
  }
}

/** How long closing waits for attempts under way to record their outcomes. */
const RECORDING_MS = 2000

/** BullMQ counts attempts; ours end by settling or by ASYNC_MAX_AGE_MS, so this is never reached. */
const UNBOUNDED = 1_000_000

/**
 * Durable delivery with BullMQ: a job per conversation with updates waiting (the updates
 * themselves are in the DeliveryStore, in Redis before the 202). Deduplicated by conversation
 * with `keepLastIfActive`: while a conversation's job runs, updates accepted for it leave one
 * more job to run after it, and while its job waits they need none, as the job delivers every
 * update pending when it starts. So a conversation is attempted by one worker at a time (short
 * of a replica that lost its job's lock while still at it: the store keeps such overlapping
 * attempts from undoing each other's settling), and all its waiting updates go out together,
 * however large the backlog. A replica that dies
 * mid-attempt stops renewing the job's lock, and the stalled-job check hands the job to another.
 * A retry is the job failing with TryAgain: BullMQ keeps it delayed for the pause the Deliverer chose.
 */
export class BullScheduler implements Scheduler {
  readonly #queue: Queue
  readonly #worker: Worker
  /** BullMQ leaves a client it was given open: closed here. */
  readonly #clients: RedisClient[]
  /** Attempts under way in this replica. */
  readonly #running = new Set<Promise<unknown>>()

  constructor (deliverer: Deliverer, opts: BullSchedulerOptions) {
    const name = 'delivery'
    this.#clients = [opts.connect(), opts.connect()]
    this.#queue = new Queue(name, { connection: this.#clients[0]!, prefix: opts.prefix })
    this.#queue.on('error', (err) => opts.onError?.(err))
    this.#worker = new Worker(
      name,
      async (job: Job<{ conversationId: string }>) => {
        const attempt = deliverer.deliver(job.data.conversationId)
        this.#running.add(attempt)
        const delay = await attempt.finally(() => {
          this.#running.delete(attempt)
          this.#worker.concurrency = opts.pacer.capacity
        })
        if (delay !== undefined) throw new TryAgain(delay)
      },
      {
        connection: this.#clients[1]!,
        prefix: opts.prefix,
        concurrency: opts.pacer.capacity,
        lockDuration: opts.lockMs ?? 15_000,
        stalledInterval: opts.stalledMs ?? 10_000,
        // A job that stalls (its replica died) goes back to wait however often that happens:
        // an update ends by being written, failing, or expiring, never by BullMQ giving up.
        maxStalledCount: UNBOUNDED,
        settings: { backoffStrategy: (_n: number, _type?: string, err?: Error) => (err instanceof TryAgain ? err.delayMs : deliverer.maxDelayMs) },
      }
    )
    this.#worker.on('error', (err) => opts.onError?.(err))
  }

  async enqueue (conversationId: string): Promise<void> {
    await this.#queue.add('deliver', { conversationId }, {
      deduplication: { id: conversationId, keepLastIfActive: true },
      attempts: UNBOUNDED,
      backoff: { type: 'custom' },
      // A conversation may be retried for as long as updates keep coming: no stack trace per retry in its job.
      stackTraceLimit: 0,
      removeOnComplete: true,
      removeOnFail: true,
    })
  }

  async pause (): Promise<void> {
    // Jobs not yet taken stay in Redis for the other replicas; those running finish meanwhile.
    await this.#worker.pause(true)
  }

  async close (): Promise<void> {
    // By now shutdown has had the write pipeline answer every attempt in flight: what is left is
    // recording their outcomes, which Redis (closed after this) must see. Briefly awaited, then
    // BullMQ is closed without waiting for it (a graceful close can hang for good on a connection
    // Redis once dropped); a job cut short is taken over as stalled, and delivers what is still pending.
    await Promise.race([Promise.allSettled([...this.#running]), sleep(RECORDING_MS)])
    // Closing too can wait for good on a cluster connection that is reconnecting to a node that
    // came back (seen once with four test files at a time): bounded, then the clients are cut,
    // which ends whatever was still waiting on them.
    await Promise.race([Promise.allSettled([this.#worker.close(true), this.#queue.close()]), sleep(RECORDING_MS)])
    for (const c of this.#clients) c.disconnect()
  }
}
