export interface CachedToken {
  value: string
  /** Epoch ms after which the token is renewed rather than used. */
  refreshAt: number
}

/** Where replicas share one token, so it is fetched once, not once per replica. */
export interface TokenStore {
  get(): Promise<CachedToken | undefined>
  /** Runs `fetch` unless another replica just did (then answers what it stored). */
  refresh(fetch: () => Promise<CachedToken>, isUsable: (t: CachedToken) => boolean): Promise<CachedToken>
  /** Forgets `value` if it is still the shared token. */
  drop(value: string): Promise<void>
  /** Resolves when the store can be reached now (readiness), else rejects COORDINATION_UNAVAILABLE. */
  reachable(): Promise<void>
}
