/**
 * The console (docs/console.md), one of the tools: it uses the gateway through what app.ts gives
 * it (the pipeline, delivery, metrics, a notice of each write), never the gateway's internals.
 * Its concepts:
 * 1. **Sessions** (session.ts): a sign-in with an API key; the console then acts with a
 *    credential of its own for that key (access/console-credential.ts), within the key's scope.
 * 2. **The source** (source.ts): the conversations shown, the simulator's (sandbox) or Genesys's.
 * 3. **Who wrote what** (writes.ts): each synchronous write's key, as the write route tells it.
 * 4. **Pages** (plugin.ts, routes.ts, pages.ts, assets.ts): the plugin and its routes, the HTML, its script.
 * 5. **The doctor's page** (doctor-page.ts): the going-live checks, and a probe of a test call.
 * 6. **Ops and updates** (ops.ts, updates.ts): a few metrics, and the caller's asynchronous updates.
 */
export { default as consolePlugin } from './plugin.ts'
