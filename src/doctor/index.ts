/**
 * The doctor: proves a configuration against the org it names before a flow depends on it.
 * It reads the same Config as the service and talks to Genesys with the service's own client
 * and token provider, but spends its few requests outside the service's rate budget. Its concepts:
 * 1. **A check**: one thing a Genesys admin would verify by hand, with a verdict and a sentence
 *    saying why, never a secret: region, OAuth client and API (doctor.ts); rate limit, Redis,
 *    PUBLIC_URL and keys (checks.ts).
 * 2. **The report** (doctor.ts): every check, `ok` only when all pass, and the PATCH semantics found.
 * 3. **The probe** (probe.ts): on a test call the user owns, two single-key writes and a read
 *    tell merge from replace; the participant is then put back as it was.
 * 4. **Sandbox** (sandbox.ts): which simulator the doctor checks when the gateway has no Genesys.
 * 5. **The command** (cli.ts): `npm run -s doctor`, as text or JSON.
 */
export { runDoctor, summary } from './doctor.ts'
export type { Report } from './doctor.ts'
export { probe } from './probe.ts'
