/** The answer a write got, kept so a repeat of the request gets it again without writing. */
export interface StoredAnswer {
  status: number
  body: unknown
  /**
   * The headers that say what kind of answer it was (an asynchronous 202's Location and
   * Preference-Applied), so that a repeat gets exactly the first answer, whichever kind it was,
   * whatever Prefer the repeat sends.
   */
  headers?: Record<string, string>
}

/** What an idempotency key says of a request: new (go ahead), a replay of an answer, or a mismatch. */
export type KeyVerdict =
  /** First with this key: go ahead, then call `settle` with the answer, or with undefined when the
   * request failed, which frees the key for a retry. Resolves once recorded; never rejects (a key
   * that could not be settled is freed when its hold expires), so nobody need wait for it. */
  | { kind: 'new'; settle(answer: StoredAnswer | undefined): Promise<void> }
  /** The key already holds an answer for the same request. */
  | { kind: 'replay'; answer: StoredAnswer }
  /** The key was used for a different request. */
  | { kind: 'mismatch' }

/** Where idempotency keys live: this process's memory, or Redis shared by every replica. */
export interface IdempotencyStore {
  /**
   * Waits while another request holding the key is in flight, then answers for this one;
   * rejects with IDEMPOTENCY_KEY_IN_FLIGHT if that one is still going at `deadline`.
   */
  claim(key: string, fingerprint: string, deadline: number): Promise<KeyVerdict>
}
