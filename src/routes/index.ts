/**
 * The gateway's own routes. Its concepts:
 * 1. **Writes** (attributes.ts): POST a participant's or a conversation's data: validated, then written
 *    through the pipeline (200), accepted for delivery (202), or previewed (`dryRun`).
 * 2. **Reads** (attributes.ts): GET a participant's data, as the gateway knows it (read-your-writes).
 * 3. **Health** (health.ts): liveness, and readiness (a token, Redis, not shutting down).
 */
export { default as attributes } from './attributes.ts'
export type { Written } from './attributes.ts'
export { default as health } from './health.ts'
