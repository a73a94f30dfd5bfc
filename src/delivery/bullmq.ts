import { Queue, Worker, type Job } from 'bullmq'
import type { Delivery, DeliveryStore } from './store.js'
import type { Deliverer, Scheduler } from './worker.js'

export interface BullSchedulerOptions {
  url: string
  /** BullMQ's own key prefix, so deployments sharing a Redis keep apart. */
  prefix: string
  /** Attempts this replica runs at once; concurrent ones to a conversation coalesce in its queue. */
  concurrency?: number
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

/** BullMQ counts attempts; ours end by settling or by ASYNC_MAX_AGE_MS, so this is never reached. */
const UNBOUNDED = 1_000_000

/**
 * Durable delivery with BullMQ: each accepted update is a job (its id the update's) stored in
 * Redis before the 202, taken by a worker on any replica. A replica that dies mid-attempt stops
 * renewing the job's lock, and the stalled-job check hands the job to another. A retry is the
 * job failing with TryAgain: BullMQ keeps it delayed for the pause the Deliverer chose. Jobs are
 * removed once done: the status lives in the DeliveryStore.
 */
export class BullScheduler implements Scheduler {
  readonly #queue: Queue
  readonly #worker: Worker

  constructor (deliverer: Deliverer, store: DeliveryStore, opts: BullSchedulerOptions) {
    // BullMQ makes its own connections from the URL; its blocking ones need maxRetriesPerRequest: null.
    const connection = { url: opts.url, maxRetriesPerRequest: null }
    const name = 'delivery'
    this.#queue = new Queue(name, { connection, prefix: opts.prefix })
    this.#queue.on('error', (err) => opts.onError?.(err))
    this.#worker = new Worker(
      name,
      async (job: Job<{ id: string }>) => {
        const d = await store.get(job.data.id)
        // Settled already: a replica that lost the job's lock finished it meanwhile.
        if (d === undefined || d.state === 'written' || d.state === 'failed') return
        const delay = await deliverer.attempt(d)
        if (delay !== undefined) throw new TryAgain(delay)
      },
      {
        connection,
        prefix: opts.prefix,
        concurrency: opts.concurrency ?? 500,
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

  async enqueue (d: Delivery): Promise<void> {
    await this.#queue.add('deliver', { id: d.id }, { jobId: d.id, attempts: UNBOUNDED, backoff: { type: 'custom' }, removeOnComplete: true, removeOnFail: true })
  }

  async pause (): Promise<void> {
    // Jobs not yet taken stay in Redis for the other replicas; those running finish meanwhile.
    await this.#worker.pause(true)
  }

  async close (): Promise<void> {
    // By now shutdown has had the write pipeline answer every attempt in flight, so nothing is
    // left to wait for; a graceful close can hang for good on a connection Redis once dropped.
    // A job cut short here (recording its outcome) is taken over as stalled, and finds it settled.
    await this.#worker.close(true)
    await this.#queue.close()
  }
}
