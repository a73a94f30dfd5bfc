// The simulator's own routes, under /__sim, apart from the Genesys-shaped paths and without a
// token: what reached it, creating conversations (the only way to get one in strict mode), and
// ending them, as a caller hanging up would, and writing attributes behind the gateway's back, as
// a flow's Set Participant Data, an agent script or another integration would.
import { randomUUID } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import { z } from 'zod'
import { jsonPointer } from '../errors.ts'
import { fail } from './replies.ts'
import type { State } from './state.ts'
import type { SimStats } from './stats.ts'

// Genesys ids are lowercase UUIDs; the service lowercases the ids it is given, so these are too.
const id = z.guid('must be a UUID').transform((s) => s.toLowerCase())

const newConversation = z
  .strictObject({
    id: id.optional(),
    participants: z
      .array(z.strictObject({ id: id.optional(), purpose: z.string().min(1), attributes: z.record(z.string(), z.string()).optional() }))
      .min(1)
      .optional(),
  })
  .refine((c) => {
    const ids = (c.participants ?? []).flatMap((p) => (p.id === undefined ? [] : [p.id]))
    return new Set(ids).size === ids.length
  }, { message: 'participant ids must differ', path: ['participants'] })

const foreignWrite = z.strictObject({ attributes: z.record(z.string(), z.string()) })

export function adminRoutes (app: FastifyInstance, { stats, state }: { stats: SimStats; state: State }) {
  app.get('/__sim/stats', async () => stats)

  app.get<{ Params: { id: string } }>('/__sim/conversations/:id', async (req, reply) => state.get(req.params.id) ?? fail(reply, 404, 'not.found', 'unknown conversation'))

  // Genesys keeps answering reads and writes for an ended conversation; only endTime tells.
  app.post<{ Params: { id: string } }>('/__sim/conversations/:id/end', async (req, reply) => state.end(req.params.id) ?? fail(reply, 404, 'not.found', 'unknown conversation'))

  // Per key, as a flow sets participant data, now, with no token, budget or 409: it is not the
  // gateway's write. Reads show it `readLagMs` later, like any other write.
  app.post<{ Params: { id: string; pid: string } }>('/__sim/conversations/:id/participants/:pid/attributes', async (req, reply) => {
    const parsed = foreignWrite.safeParse(req.body)
    if (!parsed.success) return fail(reply, 400, 'bad.request', 'expected {"attributes": {"name": "string value", …}}')
    const p = state.get(req.params.id)?.participants.find((x) => x.id === req.params.pid)
    if (p === undefined) return fail(reply, 404, 'not.found', 'unknown conversation or participant')
    state.write(p, { ...p.attributes, ...parsed.data.attributes })
    return { attributes: p.attributes }
  })

  // Without a body: an inbound call, a customer and an agent, every id made up.
  app.post('/__sim/conversations', async (req, reply) => {
    const parsed = newConversation.safeParse(req.body ?? {})
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!
      // The field as a JSON Pointer into the body, as the service names fields (an unknown one by its own name).
      const path = issue.code === 'unrecognized_keys' ? [...issue.path, issue.keys[0]!] : issue.path
      return fail(reply, 400, 'bad.request', `${jsonPointer(path)}: ${issue.message}`)
    }
    const { id = randomUUID(), participants = [{ purpose: 'customer' }, { purpose: 'agent' }] } = parsed.data
    if (state.get(id) !== undefined) return fail(reply, 409, 'conflict', `Conversation ${id} already exists`)
    const created = state.put(id, participants.map((p) => ({ ...p, id: p.id ?? randomUUID(), attributes: { ...p.attributes } })))
    return reply.status(201).header('location', `/api/v2/conversations/${id}`).send(created)
  })
}
