import { base, exchange, type HttpOptions } from './http.ts'
import { malformed } from './upstream-error.ts'
import type { CachedToken, TokenStore } from '../coordination/index.ts'

export interface TokenOptions extends HttpOptions {
  loginUrl: string
  clientId: string
  clientSecret: string
  clock?: () => number
  /** Shares the token between replicas (Redis); without it, this process keeps its own. */
  store?: TokenStore
  /** Told of each token this instance requests. */
  onRefresh?: (ok: boolean) => void
}

/**
 * Client-credentials token, cached until shortly before it expires. Concurrent callers share
 * one refresh; a token the API rejected is dropped only once, however many callers saw the 401.
 */
export class TokenProvider {
  readonly #opts: TokenOptions
  readonly #basic: string
  readonly #login: { origin: string; path: string }
  readonly #clock: () => number
  #token: CachedToken | undefined
  #pending: Promise<string> | undefined

  constructor (opts: TokenOptions) {
    this.#opts = opts
    this.#basic = 'Basic ' + Buffer.from(`${opts.clientId}:${opts.clientSecret}`).toString('base64')
    const { origin, prefix } = base(opts.loginUrl)
    this.#login = { origin, path: `${prefix}/oauth/token` }
    this.#clock = opts.clock ?? Date.now
  }

  /** The cached token while it is fresh, without waiting; undefined when get() has work to do. */
  current (): string | undefined {
    const t = this.#token
    return t !== undefined && this.#clock() < t.refreshAt ? t.value : undefined
  }

  get (): Promise<string> {
    const value = this.current()
    if (value !== undefined) return Promise.resolve(value)
    this.#pending ??= this.#obtain().finally(() => {
      this.#pending = undefined
    })
    return this.#pending
  }

  /** Resolves when the token's store (Redis, shared by the replicas) can be reached now; at once without one. */
  async reachable (): Promise<void> {
    await this.#opts.store?.reachable()
  }

  /** The API answered 401 to `token`: forget it unless a newer one already replaced it. */
  invalidate (token: string): void {
    if (this.#token?.value === token) this.#token = undefined
    this.#opts.store?.drop(token).catch(() => {})
  }

  async #obtain (): Promise<string> {
    const { store } = this.#opts
    const usable = (t: CachedToken) => this.#clock() < t.refreshAt
    let token = await store?.get()
    if (token === undefined || !usable(token)) token = store ? await store.refresh(() => this.#fetch(), usable) : await this.#fetch()
    this.#token = token
    return token.value
  }

  async #fetch (): Promise<CachedToken> {
    try {
      const token = await this.#request()
      this.#opts.onRefresh?.(true)
      return token
    } catch (err) {
      this.#opts.onRefresh?.(false)
      throw err
    }
  }

  async #request (): Promise<CachedToken> {
    const text = await exchange(
      'token',
      {
        method: 'POST',
        ...this.#login,
        headers: { authorization: this.#basic, 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
        body: 'grant_type=client_credentials',
      },
      this.#opts
    )
    let body: { access_token?: unknown; expires_in?: unknown }
    try {
      body = JSON.parse(text)
    } catch {
      body = {}
    }
    const { access_token: value, expires_in: expiresIn } = body
    if (typeof value !== 'string' || value === '' || typeof expiresIn !== 'number' || !(expiresIn > 0)) {
      throw malformed('token', 'token endpoint answered 200 without access_token and expires_in')
    }
    // Refresh a tenth of the lifetime early, at most a minute: a 24 h token is renewed a minute
    // before expiry, a 5 min token 30 s before, so no request ever carries a token about to lapse.
    const lifetimeMs = expiresIn * 1000
    return { value, refreshAt: this.#clock() + lifetimeMs - Math.min(60_000, lifetimeMs / 10) }
  }
}
