// What reached the simulator, so tests and benchmarks can see what "Genesys" saw.

export interface SimStats {
  tokenRequests: number
  reads: number
  /** Reads of the org's limits (the Limits API), answered or refused. */
  limitReads: number
  /** PATCHes accepted and applied. */
  writes: number
  /** PATCHes refused with 409 because another write to the conversation was in flight. */
  conflicts: number
  writesInFlight: number
  /** Most writes in flight at once across all conversations. */
  peakWritesInFlight: number
  unauthorized: number
  /** Every 429 sent, over budget or injected. */
  rateLimited: number
  /** 429s sent because the token's budget (`rateLimit`) was used up. */
  overBudget: number
  /** What fault injection did; natural 409s stay in `conflicts` only. */
  injected: {
    /** 409s on PATCH; not applied. */
    conflicts: number
    /** 429s on GET and PATCH; not applied. */
    rateLimited: number
    /** All 5xx sent on token, GET and PATCH, before or after a write. */
    serverErrors: number
    /** The part of `serverErrors` sent after the PATCH was applied. */
    serverErrorsAfterWrite: number
    /** Connections dropped on token and GET requests. */
    drops: number
    /** PATCH connections dropped before the write was applied. */
    dropsBeforeWrite: number
    /** PATCH connections dropped after the write was applied. */
    dropsAfterWrite: number
  }
}

export interface SimRequest {
  /** `clock()` when the request arrived. */
  at: number
  method: string
  path: string
  /** 0 when the connection was dropped. */
  status: number
}

export function emptyStats (): SimStats {
  return {
    tokenRequests: 0,
    reads: 0,
    limitReads: 0,
    writes: 0,
    conflicts: 0,
    writesInFlight: 0,
    peakWritesInFlight: 0,
    unauthorized: 0,
    rateLimited: 0,
    overBudget: 0,
    injected: { conflicts: 0, rateLimited: 0, serverErrors: 0, serverErrorsAfterWrite: 0, drops: 0, dropsBeforeWrite: 0, dropsAfterWrite: 0 },
  }
}
