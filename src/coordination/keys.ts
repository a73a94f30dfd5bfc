/**
 * Every Redis key the service uses, in one place; docs/redis.md says what each holds, for how
 * long, and which file writes it. `prefix` is `pdg:<GENESYS_CLIENT_ID>:`, so deployments for
 * different OAuth clients can share a Redis. The hash tags (`{…}`) keep the keys one script
 * touches in one Redis Cluster slot: a conversation's in `{c:<conversationId>}`, the Genesys
 * token's and request budget's in `{genesys-api}`, the asynchronous updates' and their
 * callbacks' in `{<prefix>async}`.
 */

/** The slot of what every write needs at once: the token, the request budget, the org's limit. */
export const GENESYS_API_TAG = '{genesys-api}'

export type RedisKeys = ReturnType<typeof redisKeys>

/** A caller's name in a key, encoded: no name can make its key another's. */
const name = (caller: string) => encodeURIComponent(caller)

export function redisKeys (prefix: string) {
  const conversation = (c: string) => `${prefix}{c:${c}}`
  const async = `{${prefix}async}:`
  return {
    /** A conversation's write lock. */
    lock: (c: string) => `${conversation(c)}:lock`,
    /**
     * A conversation's acceptance counter, the numbers its writes recorded, and one write's mark
     * (the number a synchronous write took, kept so that a resent record takes no second one).
     */
    order: (c: string) => ({ seq: `${conversation(c)}:seq`, written: `${conversation(c)}:written`, mark: (write: string) => `${conversation(c)}:seq:${write}` }),
    /** A conversation's read-your-writes journal. */
    journal: (c: string) => `${conversation(c)}:journal`,
    /** The request budget's shared log. */
    budget: {
      units: `${prefix}budget-log:${GENESYS_API_TAG}`,
      answered: `${prefix}budget-answered:${GENESYS_API_TAG}`,
      state: `${prefix}budget-state:${GENESYS_API_TAG}`,
    },
    /** The OAuth token every replica uses, and the lock its refresh takes. */
    token: `${prefix}token:${GENESYS_API_TAG}`,
    tokenRefresh: `${prefix}token:${GENESYS_API_TAG}:refresh`,
    /** The org's rate limit, as the Limits API last answered, and the claim of the replica asking it. */
    orgLimit: `${prefix}${GENESYS_API_TAG}:org-limit`,
    orgLimitAsking: `${prefix}${GENESYS_API_TAG}:org-limit:asking`,
    /** Asynchronous updates: records, indexes and due lists, in one slot. */
    async: {
      update: (id: string) => `${async}u:${id}`,
      conversation: (c: string) => `${async}c:${c}`,
      pending: `${async}pending`,
      due: `${async}due`,
      /** A caller's recent updates, or its recent updates to one conversation. */
      recent: (caller: string, c?: string) => `${async}recent:${name(caller)}${c === undefined ? '' : `:${name(c)}`}`,
      /** A caller's pending updates: its share of the backlog. */
      callerPending: (caller: string) => `${async}pending:${name(caller)}`,
      /** A caller's failed updates (its name as given: the key predates the encoding, and changing it would lose the list). */
      failed: (caller: string) => `${async}failed:${caller}`,
      resent: (id: string) => `${async}resent:${id}`,
      callbackDue: `${async}cb:due`,
      callback: (id: string) => `${async}cb:s:${id}`,
      callbackGone: (caller: string) => `${async}cb:gone:${name(caller)}`,
    },
    /** An Idempotency-Key's claim and stored answer, by its SHA-256 (base64url). */
    idempotency: (hash: string) => `${prefix}idempotency:${hash}`,
    /** A signature seen, and what it first came with, by its SHA-256 (base64url). */
    signature: (hash: string) => `${prefix}signature:${hash}`,
  }
}
