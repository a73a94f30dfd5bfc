/**
 * The simulator: a stand-in for the slice of Genesys Cloud this service uses (docs/simulator.md),
 * behaving as the real one does where it hurts. Its concepts:
 * 1. **The wire contract** (routes.ts, replies.ts, tokens.ts): client-credentials tokens, GET
 *    conversation, PATCH participant attributes, failures shaped as Genesys shapes them.
 * 2. **Conversations** (state.ts): participants and their attributes; a read shows a write only
 *    `readLagMs` later, and other writers (admin.ts) change a participant behind the gateway's back.
 * 3. **The budget** (budget.ts): at most N requests per token in any window; a 429 carries only `Retry-After`.
 * 4. **Faults** (faults.ts): seeded, reproducible conflicts, 429s, 5xx and dropped answers.
 * 5. **Its own routes and counts** (admin.ts, stats.ts): /__sim (end a call, write as a flow would),
 *    and what reached "Genesys".
 * 6. **Running it** (simulator.ts, app.ts, options.ts, env.ts, main.ts, sandbox.ts): in tests, with
 *    `npm run sim`, or inside the gateway in sandbox mode.
 */
export { loadSimConfig } from './env.ts'
export { SANDBOX_SIMULATOR_PATH, sandboxBanner, sandboxRoute, startSandbox } from './sandbox.ts'
export { SANDBOX_CLIENT } from './simulator.ts'
export type { Simulator } from './simulator.ts'
