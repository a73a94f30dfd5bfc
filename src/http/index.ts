/**
 * The HTTP layer every route shares. Its concepts:
 * 1. **Problems** (problems.ts, client-error.ts): every refusal, whether Fastify, zod, a route or
 *    Node itself refused, as `application/problem+json` with a catalogue code and the field.
 * 2. **The body** (raw-json.ts): JSON only, read strictly (src/json/), and kept as sent for
 *    signatures and idempotency.
 * 3. **Pages' safety** (csp.ts, host-check.ts): the pages' Content-Security-Policy, and which
 *    Host a browser may use.
 * 4. **The API's description** (docs.ts): /docs and the OpenAPI document, from the routes' schemas.
 * 5. **Shutdown** (shutdown.ts): refuse new requests, answer the waiting ones, then close.
 */
export { clientError } from './client-error.ts'
export { PAGE_CSP } from './csp.ts'
export { default as docs } from './docs.ts'
export { default as hostCheck } from './host-check.ts'
export { default as problems, sendProblem } from './problems.ts'
export type { ZodTypeProvider } from './problems.ts'
export { default as rawJson } from './raw-json.ts'
export { default as shutdown } from './shutdown.ts'
