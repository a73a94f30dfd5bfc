/**
 * Failed updates sent again with one call (docs/crm.md, "Outcome callbacks"): `POST /updates/{id}/retry` and
 * `POST /updates/retry?state=failed&since=…`. A resend is a new asynchronous update, accepted
 * now, carrying the failed one's values (kept for its day for this), with `retryOf` naming it.
 *
 * - Only the key that sent an update may resend it, and only while it may still do `async` and
 *   set those attributes.
 * - Once only: a failed update resent is marked with its resend's id (24 h), so a second call
 *   (a CRM retrying a lost answer, a bulk call run twice) sends nothing again.
 * - Refused when it is not failed, or its conversation has ended (read from Genesys, once per
 *   conversation, unless ENDED_CONVERSATION_WRITES=allow).
 * - In bulk, oldest first: per key the value accepted last stands, so of two failed updates to
 *   one key, the later one's value stands again.
 */
import type { FastifyPluginAsync, FastifyRequest } from 'fastify'
import { z } from 'zod'
import { ApiError, CATALOGUE, conversationEnded, problemSchema, updateNotFound, type ErrorCode } from '../errors.ts'
import { requireAttributes, requireOperation } from '../access/index.ts'
import type { ZodTypeProvider } from '../http/index.ts'
import { acceptedSchema } from './views.ts'
import { KEEP_SETTLED_MS, type Delivery, type ResendLedger } from '../coordination/index.ts'
import type { Clock } from '../clock.ts'
import type { AsyncDelivery } from './service.ts'
import type { Updates } from '../updates/index.ts'

export interface ResendOptions {
  /** refuse: a resend to an ended conversation is refused (ENDED_CONVERSATION_WRITES). */
  endedConversationWrites: 'refuse' | 'allow'
  requestTimeoutMs: number
  clock: Clock
  /** Which failed updates were sent again (src/coordination/). */
  ledger: ResendLedger
  updates: Updates
  delivery: AsyncDelivery
}

/** Refuses a resend of `d` (with its catalogue code), or resolves: it may be sent again. */
async function check (req: FastifyRequest, d: Delivery, opts: ResendOptions, ended: (conversationId: string) => Promise<string | undefined>): Promise<void> {
  if (d.state !== 'failed') throw new ApiError('UPDATE_NOT_FAILED', `update ${d.id} is ${d.state}, not failed; only a failed update is sent again`, { extra: { state: d.state } })
  // Failed before values were kept for this (an upgrade's first day): its blanks would clear the attributes.
  if (d.valuesKept !== true) throw new ApiError('UPDATE_VALUES_NOT_KEPT', `update ${d.id} failed before this gateway kept failed updates' values; send it anew with its values`)
  requireAttributes(req, 'attributes', Object.keys(d.changes))
  if (d.error?.code === 'CONVERSATION_ENDED' && opts.endedConversationWrites === 'refuse') throw new ApiError('CONVERSATION_ENDED', `conversation ${d.conversationId} has ended (${d.error.detail}); not sent again`)
  const endTime = await ended(d.conversationId)
  if (endTime !== undefined) throw conversationEnded(d.conversationId, endTime)
}

const retried = z.object({ id: z.string().describe('The new update'), retryOf: z.string(), location: z.string() })
const refusal = z.object({ id: z.string(), code: z.string(), detail: z.string() })

const routes: FastifyPluginAsync<ResendOptions> = async (fastify, opts) => {
  const app = fastify.withTypeProvider<ZodTypeProvider>()
  const { ledger } = opts

  /** Per request: each conversation read once, through the pipeline's budget at bulk priority. */
  const endedCheck = () => {
    const seen = new Map<string, Promise<string | undefined>>()
    return (conversationId: string) => {
      if (opts.endedConversationWrites === 'allow') return Promise.resolve(undefined)
      if (!seen.has(conversationId)) {
        seen.set(conversationId, opts.updates.conversation(conversationId, { deadline: opts.clock.now() + opts.requestTimeoutMs, priority: 'bulk' }).then((c) => c.endTime))
      }
      return seen.get(conversationId)!
    }
  }

  /** Sends `d` again, once: the 202's body, or the refusal. */
  async function resend (req: FastifyRequest, d: Delivery, ended: (c: string) => Promise<string | undefined>) {
    await check(req, d, opts, ended)
    const claim = await ledger.claim(d.id)
    if ('resentAs' in claim) {
      const already = claim.resentAs
      throw new ApiError('UPDATE_ALREADY_RETRIED', `update ${d.id} was sent again already${already ? ` as ${already}` : ' (just now)'}; see GET /updates/${already || d.id}`, {
        ...(already && { extra: { retriedAs: already } }),
      })
    }
    try {
      const accepted = await opts.delivery.accept(d.caller, d.conversationId, d.target, d.changes, { retryOf: d.id })
      await ledger.done(d.id, accepted.id)
      return accepted
    } catch (err) {
      await ledger.release(d.id, claim.mark)
      throw err
    }
  }

  app.post(
    '/updates/:id/retry',
    {
      schema: {
        summary: 'Send a failed asynchronous update again',
        description: 'A new asynchronous update with the failed one\'s values, accepted now (202, as with Prefer: respond-async), `retryOf` naming the first. Once per failed update.',
        params: z.object({ id: z.string().max(100) }),
        response: {
          202: acceptedSchema,
          401: problemSchema(401),
          403: problemSchema(403, ['OPERATION_NOT_ALLOWED', 'ATTRIBUTE_NOT_ALLOWED']),
          404: problemSchema(404, ['UPDATE_NOT_FOUND', 'CONVERSATION_NOT_FOUND']),
          409: problemSchema(409, ['UPDATE_NOT_FAILED', 'UPDATE_ALREADY_RETRIED', 'UPDATE_VALUES_NOT_KEPT', 'CONVERSATION_ENDED']),
          503: problemSchema(503),
        },
      },
    },
    async (req, reply) => {
      reply.cacheControl('no-store')
      requireOperation(req, 'async')
      if (!opts.delivery.enabled) throw updateNotFound()
      const d = await opts.delivery.get(req.caller ?? '', req.params.id)
      if (d === undefined) throw updateNotFound()
      const accepted = await resend(req, d, endedCheck())
      reply.status(202).header('location', `/updates/${accepted.id}`)
      return accepted
    }
  )

  const since = 'must be an ISO 8601 date and time, such as 2026-12-06T13:00:00Z'
  app.post(
    '/updates/retry',
    {
      schema: {
        summary: 'Send again every failed asynchronous update of this API key since a time',
        description: 'Oldest first (so, per key, the later value stands again), up to `limit`; each once (those sent again already are skipped). ' +
          '`more`: failed updates are left: call again.',
        querystring: z
          .object({
            state: z.literal('failed', { error: 'must be failed: only failed updates are sent again' }),
            since: z.string({ error: since }).refine((s) => !Number.isNaN(Date.parse(s)) && /^\d{4}-\d\d-\d\dT/.test(s), since),
            limit: z.coerce.number({ error: 'must be a whole number from 1 to 500' }).int('must be a whole number from 1 to 500').min(1, 'must be a whole number from 1 to 500').max(500, 'must be a whole number from 1 to 500').default(100),
          })
          .strict(),
        response: {
          202: z.object({
            retried: z.array(retried).describe('The new updates, oldest first'),
            refused: z.array(refusal).describe('Failed updates not sent again, each with the catalogue code of why (CONVERSATION_ENDED, ATTRIBUTE_NOT_ALLOWED…)'),
            skipped: z.number().int().describe('Failed updates sent again before: not again'),
            more: z.boolean().describe('More failed updates since then than limit: call again'),
          }),
          400: problemSchema(400, ['INVALID_QUERY']),
          401: problemSchema(401),
          403: problemSchema(403, ['OPERATION_NOT_ALLOWED']),
        },
      },
    },
    async (req, reply) => {
      reply.cacheControl('no-store')
      requireOperation(req, 'async')
      const from = Date.parse(req.query.since)
      const { limit } = req.query
      const caller = req.caller ?? ''
      // The failed list is newest accepted first, and holds a day: one accepted a day before `since` cannot have failed since.
      const found: Delivery[] = []
      for (let offset: number | undefined = 0; offset !== undefined && opts.delivery.enabled;) {
        const page = await opts.delivery.failed(caller, offset, 500)
        found.push(...page.items.filter((d) => (d.settledAt ?? d.acceptedAt) >= from))
        const oldest = page.items.at(-1)?.acceptedAt
        offset = oldest !== undefined && oldest < from - KEEP_SETTLED_MS ? undefined : page.next
      }
      found.sort((a, b) => a.acceptedAt - b.acceptedAt || a.seq - b.seq)
      const ended = endedCheck()
      const out = { retried: [] as Array<z.infer<typeof retried>>, refused: [] as Array<z.infer<typeof refusal>>, skipped: 0, more: false }
      for (const d of found) {
        if (out.retried.length + out.refused.length >= limit) {
          out.more = true
          break
        }
        try {
          const accepted = await resend(req, d, ended)
          out.retried.push({ id: accepted.id, retryOf: d.id, location: `/updates/${accepted.id}` })
        } catch (err) {
          if (!(err instanceof ApiError)) throw err
          if (err.code === 'UPDATE_ALREADY_RETRIED') out.skipped++
          // The store or Redis failing stops the run: the caller is told and calls again.
          else if (CATALOGUE[err.code].retryable) throw err
          else out.refused.push({ id: d.id, code: err.code as ErrorCode, detail: err.detail })
        }
      }
      reply.status(202)
      return out
    }
  )
}

export default routes
