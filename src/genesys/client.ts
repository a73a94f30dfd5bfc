import { ApiError } from '../errors.js'
import type { Attributes } from '../attributes/body.js'
import { exchange, type HttpOptions, type Sent } from './http.js'
import type { TokenProvider } from './token.js'
import type { Operation } from './upstream-error.js'

/** The parts of Genesys's `Participant` this service reads. */
export interface Participant {
  id: string
  purpose: string
  attributes?: Attributes
}

export interface Conversation {
  id: string
  participants: Participant[]
}

export interface GenesysClientOptions extends HttpOptions {
  apiUrl: string
  tokens: TokenProvider
}

/** The two calls the write path needs, with a cached token and one retry on 401. */
export class GenesysClient {
  readonly #opts: GenesysClientOptions

  constructor(opts: GenesysClientOptions) {
    this.#opts = opts
  }

  async getConversation(conversationId: string): Promise<Conversation> {
    const text = await this.#call('getConversation', 'GET', `/api/v2/conversations/${conversationId}`)
    const conversation = JSON.parse(text) as Conversation
    if (!Array.isArray(conversation?.participants)) {
      throw new ApiError('UPSTREAM_ERROR', 'Genesys Cloud answered a conversation without a participants list')
    }
    return conversation
  }

  async patchParticipantAttributes(conversationId: string, participantId: string, attributes: Attributes): Promise<void> {
    await this.#call(
      'patchAttributes',
      'PATCH',
      `/api/v2/conversations/${conversationId}/participants/${participantId}/attributes`,
      JSON.stringify({ attributes }),
    )
  }

  async #call(op: Operation, method: Sent['method'], path: string, body?: string): Promise<string> {
    const { tokens } = this.#opts
    for (let attempt = 1; ; attempt++) {
      const token = await tokens.get()
      const headers: Record<string, string> = { authorization: `Bearer ${token}`, accept: 'application/json' }
      if (body !== undefined) headers['content-type'] = 'application/json'
      try {
        return (await exchange(op, { method, url: this.#opts.apiUrl + path, headers, body }, this.#opts)).text
      } catch (err) {
        // A 401 means the token was revoked or expired early: one fresh token, one more try.
        if (attempt === 1 && err instanceof ApiError && err.upstream?.status === 401) {
          tokens.invalidate(token)
          continue
        }
        throw err
      }
    }
  }
}
