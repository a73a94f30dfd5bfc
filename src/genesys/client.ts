import { z } from 'zod'
import { base, exchange, type HttpOptions, type Sent } from './http.ts'
import type { TokenProvider } from './token.ts'
import { malformed, UpstreamError, type UpstreamOp } from './upstream-error.ts'
import type { Attributes } from '../domain.ts'
import type { Conversation } from '../domain.ts'

/**
 * How long Genesys may show a write late (GENESYS_PROPAGATION_MS's default): its own advice is
 * to retry a read-back for up to 10 s.
 */
export const PROPAGATION_MS = 15_000

/**
 * A participant's attributes as Genesys holds them: strings only. Checked with a loop rather
 * than z.record, which costs noticeably more per key on every read (BENCHMARKS.md), and which
 * would drop a `__proto__` key that our merged write would then delete.
 */
const storedAttributes = z.custom<Attributes>((v) => {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return false
  for (const k in v) if (typeof (v as Record<string, unknown>)[k] !== 'string') return false
  return true
})

// Only what the write path reads; everything else in Genesys's Conversation is dropped.
const conversationSchema = z.object({
  id: z.string(),
  // Set once the conversation has ended (docs/going-live.md, "Ended conversations").
  endTime: z.string().optional(),
  participants: z.array(z.object({ id: z.string(), purpose: z.string().default(''), attributes: storedAttributes.optional() })),
})

// GET /api/v2/organizations/limits/namespaces/platform.api: the org's effective limits.
const limitsSchema = z.object({ entities: z.array(z.object({ key: z.string(), value: z.number() }).loose()) })

/** The limit that binds a client-credentials token (docs/api.md, "Rate budget"): 300 unless support changed it. */
export const TOKEN_RATE_LIMIT = 'client.credentials.token.rate.per.minute'

export interface GenesysClientOptions extends HttpOptions {
  apiUrl: string
  tokens: TokenProvider
}

/** The two calls the write path needs, with a cached token. Retries are the caller's (RetryPolicy). */
export class GenesysClient {
  readonly #opts: GenesysClientOptions
  readonly #origin: string
  readonly #prefix: string

  constructor (opts: GenesysClientOptions) {
    this.#opts = opts
    ;({ origin: this.#origin, prefix: this.#prefix } = base(opts.apiUrl))
  }

  /** A token ready for the next call, so that the call itself goes out at once; undefined when one is. */
  prepare (): Promise<string> | undefined {
    return this.#opts.tokens.current() === undefined ? this.#opts.tokens.get() : undefined
  }

  async getConversation (conversationId: string): Promise<Conversation> {
    const text = await this.#call('getConversation', 'GET', `/api/v2/conversations/${conversationId}`)
    let parsed: unknown
    try {
      parsed = JSON.parse(text)
    } catch {
      // A proxy's HTML page, a truncated body: not something to merge into.
    }
    const conversation = conversationSchema.safeParse(parsed)
    if (!conversation.success) throw malformed('getConversation', 'Genesys Cloud answered 200 to getConversation with something that is not a conversation')
    return conversation.data
  }

  /** The org's effective requests a minute for this client-credentials token; undefined when the answer does not name it. */
  async getTokenRateLimit (): Promise<number | undefined> {
    const text = await this.#call('getLimits', 'GET', '/api/v2/organizations/limits/namespaces/platform.api')
    let parsed: unknown
    try {
      parsed = JSON.parse(text)
    } catch {}
    const limits = limitsSchema.safeParse(parsed)
    if (!limits.success) throw malformed('getLimits', 'Genesys Cloud answered 200 to the Limits API with something that is not a list of limits')
    const value = limits.data.entities.find((e) => e.key === TOKEN_RATE_LIMIT)?.value
    return value !== undefined && Number.isInteger(value) && value > 0 ? value : undefined
  }

  async patchParticipantAttributes (conversationId: string, participantId: string, attributes: Attributes): Promise<void> {
    await this.#call(
      'patchAttributes',
      'PATCH',
      `/api/v2/conversations/${conversationId}/participants/${participantId}/attributes`,
      JSON.stringify({ attributes }),
      // Its 202 is the whole answer: a body cut off after it does not undo the write.
      true
    )
  }

  async #call (op: UpstreamOp, method: Sent['method'], path: string, body?: string, statusOnly = false): Promise<string> {
    const { tokens } = this.#opts
    const token = tokens.current() ?? (await tokens.get())
    const headers: Record<string, string> = { authorization: `Bearer ${token}`, accept: 'application/json' }
    if (body !== undefined) headers['content-type'] = 'application/json'
    try {
      return await exchange(op, { method, origin: this.#origin, path: this.#prefix + path, headers, body, statusOnly }, this.#opts)
    } catch (err) {
      // A 401 means the token was revoked or expired early: drop it, so the retry policy's next
      // attempt fetches a fresh one. Nothing was applied.
      if (err instanceof UpstreamError && err.status === 401) tokens.invalidate(token)
      throw err
    }
  }
}
