/**
 * Genesys Cloud as the gateway speaks to it. Its concepts:
 * 1. **The client** (client.ts): GET a conversation, PATCH a participant's attributes, the org's limits.
 * 2. **The exchange** (http.ts): one request through undici, timed, with its correlation id.
 * 3. **The token** (token.ts): client credentials, cached and refreshed once for all callers
 *    (and for all replicas, through src/coordination/).
 * 4. **Upstream errors** (upstream-error.ts): what Genesys answered, and whether a PATCH may have landed.
 * 5. **The org's limit** (org-limit.ts): the Limits API's reading, under any configured ceiling.
 * 6. **Regions** (regions.ts): a region's API and login hosts.
 */
export { GenesysClient, PROPAGATION_MS } from './client.ts'
export type { Exchange, HttpOptions } from './http.ts'
export { GENESYS_DEFAULT_LIMIT, OrgLimit } from './org-limit.ts'
export type { LimitSource } from './org-limit.ts'
export { regionDomain } from './regions.ts'
export { TokenProvider } from './token.ts'
export { UpstreamError, retryAfter } from './upstream-error.ts'
export type { Retryable } from './upstream-error.ts'
