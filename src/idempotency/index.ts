/**
 * Idempotency: a repeated request gets the first answer, and writes nothing. Its concepts:
 * 1. **The key**: an `Idempotency-Key`, else the checked signature, else a `webhook-id`, per API key.
 * 2. **The fingerprint**: the route, ids and raw body; the same key with another request is refused.
 * 3. **The stored answer**: status, Location and body, kept 24 h (its store is in src/coordination/),
 *    and given again marked `Idempotent-Replayed: true`.
 * 4. **In flight**: a repeat that arrives while the first still runs waits for it, until its deadline.
 */
import { createHash } from 'node:crypto'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { ApiError, idempotencyKeyInFlight } from '../errors.ts'
import type { IdempotencyStore } from '../coordination/index.ts'
import type { Metrics } from '../observability/index.ts'

export interface Idempotency {
  /**
   * Runs `write` (which answers the request, and sets its status and Location) once per
   * `Idempotency-Key` and API key. A repeat of the same request within 24 h gets the first
   * answer, its status and Location included, marked `Idempotent-Replayed: true`,
   * without writing; one that arrives while the first is in flight waits for it until
   * `deadline` (epoch ms). The same key with another request is 422 IDEMPOTENCY_KEY_REUSED.
   * A `webhook-id` counts as the key when there is no Idempotency-Key. Without either, `write` just runs.
   */
  once<T>(req: FastifyRequest, reply: FastifyReply, deadline: number, write: () => Promise<T>): Promise<T>
}

export interface IdempotencyOptions {
  /** Where keys and their answers are kept: in Redis when replicas share one (a repeat may reach another replica), else in this process. */
  store: IdempotencyStore
  /** Counts the answers given again (pdg_idempotent_replays_total). */
  metrics: Pick<Metrics, 'replays'>
}

/** Kept with an answer and sent again with it: what makes a 202 a 202. */
const ANSWER_HEADERS = ['location', 'preference-applied'] as const

function answerHeaders (reply: FastifyReply): Record<string, string> | undefined {
  const kept = ANSWER_HEADERS.filter((h) => reply.hasHeader(h)).map((h) => [h, String(reply.getHeader(h))])
  return kept.length === 0 ? undefined : Object.fromEntries(kept)
}

/** The request an Idempotency-Key stands for: route, ids and body as sent. */
function fingerprint (req: FastifyRequest): string {
  return createHash('sha256').update(`${req.routeOptions.url}\n${JSON.stringify(req.params)}\n${req.rawBody}`).digest('base64url')
}

/**
 * Idempotency-Key, else the checked signature (access/signature.ts), else a webhook-id: a
 * Standard Webhooks sender's webhook-id stays the same on every redelivery of a message, and a
 * byte-identical retry repeats an X-Signature. The space keeps them apart: an Idempotency-Key
 * cannot hold one.
 */
function idempotencyKey (req: FastifyRequest): [header: string, key: string | undefined] {
  const key = req.headers['idempotency-key']
  if (typeof key === 'string') return ['Idempotency-Key', key]
  if (req.signature !== undefined) return [req.signature.startsWith('webhook-id') ? 'webhook-id' : 'X-Signature', req.signature]
  const id = req.headers['webhook-id']
  return ['webhook-id', typeof id === 'string' ? `webhook-id ${id}` : undefined]
}

/**
 * A repeated request (same key, same caller, same body) gets the first one's answer, for 24 h.
 * Given to the write routes (app.ts); the body it fingerprints is the raw one (http/raw-json.ts).
 */
export function createIdempotency ({ store, metrics }: IdempotencyOptions): Idempotency {
  async function once<T> (req: FastifyRequest, reply: FastifyReply, deadline: number, write: () => Promise<T>): Promise<T> {
    const [header, key] = idempotencyKey(req)
    if (key === undefined) return write()
    const claim = await store.claim(`${req.caller ?? ''}\n${key}`, fingerprint(req), deadline).catch((err: unknown) => {
      // The stores cannot know which header the key came in.
      throw err instanceof ApiError && err.code === 'IDEMPOTENCY_KEY_IN_FLIGHT' ? idempotencyKeyInFlight(header) : err
    })
    if (claim.kind === 'mismatch') {
      throw new ApiError('IDEMPOTENCY_KEY_REUSED', `this ${header} was used for a different request in the last 24 h; use a new one for a new request`)
    }
    if (claim.kind === 'replay') {
      metrics.replays.inc()
      reply.header('idempotent-replayed', 'true').status(claim.answer.status)
      // Exactly the first answer: a first synchronous 200 stays a 200 for a repeat that adds
      // Prefer: respond-async, and a first 202 keeps its Location for one that drops it.
      for (const [name, value] of Object.entries(claim.answer.headers ?? {})) reply.header(name, value)
      return claim.answer.body as T
    }
    try {
      const answer = await write()
      const headers = answerHeaders(reply)
      void claim.settle({ status: reply.statusCode, body: answer, ...(headers && { headers }) })
      return answer
    } catch (err) {
      void claim.settle(undefined)
      throw err
    }
  }
  return { once }
}
