import { z } from 'zod'
import type { Delivery } from '../coordination/index.ts'

/** The 202 of an asynchronous write, for the write routes' description. */
export const acceptedSchema = z
  .object({
    id: z.string(),
    state: z.literal('queued'),
    conversationId: z.string(),
    participantId: z.string().optional().describe('Present when the URL named the participant'),
    keys: z.array(z.string()).describe('The keys this update sets'),
    acceptedAt: z.string().describe('ISO 8601'),
    retryOf: z.string().optional().describe('The failed update this one sends again (POST /updates/{id}/retry)'),
  })
  .describe('Accepted (Prefer: respond-async): stored, to be delivered; follow Location for its state')

export const status = z.object({
  id: z.string(),
  state: z.enum(['queued', 'retrying', 'written', 'failed']).describe('queued: not tried yet or being tried. retrying: tried, will be again. written: in Genesys Cloud. failed: never will be (see error)'),
  conversationId: z.string(),
  participantId: z.string().optional(),
  keys: z.array(z.string()),
  attempts: z.number().int().describe('Delivery attempts so far'),
  acceptedAt: z.string(),
  settledAt: z.string().optional(),
  error: z.object({ code: z.string(), status: z.number().int(), detail: z.string() }).optional().describe('The problem that settled it failed'),
  retryOf: z.string().optional().describe('The failed update this one sends again'),
})

/** Where the update's outcome callback stands, for a key with a callbackUrl. */
const callbackStatus = z
  .object({
    state: z.enum(['pending', 'delivered', 'failed']).describe('pending: not yet accepted by the receiver (the update may not have settled yet). delivered: the receiver answered 2xx. failed: given up (24 h of retries, a 410 Gone, or the update gone)'),
    attempts: z.number().int(),
    lastStatus: z.number().int().optional().describe('The receiver\'s last HTTP status; 0 when no answer came'),
    lastError: z.string().optional(),
    lastAttemptAt: z.string().optional(),
    nextAttemptAt: z.string().optional(),
    deliveredAt: z.string().optional(),
  })
  .describe('The outcome callback (API_KEYS_FILE callbackUrl)')

export const statusWithCallback = status.extend({ callback: callbackStatus.optional() })

export function view (d: Delivery): z.infer<typeof status> {
  return {
    id: d.id,
    state: d.state,
    conversationId: d.conversationId,
    ...(d.participantId !== undefined && { participantId: d.participantId }),
    keys: Object.keys(d.changes),
    attempts: d.attempts,
    acceptedAt: new Date(d.acceptedAt).toISOString(),
    ...(d.settledAt !== undefined && { settledAt: new Date(d.settledAt).toISOString() }),
    // While retrying, the last failure is not what settles it: shown only once it has.
    ...(d.state === 'failed' && d.error !== undefined && { error: d.error }),
    ...(d.retryOf !== undefined && { retryOf: d.retryOf }),
  }
}
