/**
 * The write pipeline's door: what the other rooms use of it. Everything else in src/updates/ is
 * its own; lint:deps refuses an import of it from another room (app.ts, server.ts and config.ts,
 * which put the service together, excepted).
 */
export { createPipeline, type Pipeline, type Updates } from './pipeline.ts'
export type { Urgency } from './ports.ts'
export { backoff, type Backoff } from './retry.ts'
export { within } from './tracing.ts'
export { toApiError } from './answer.ts'
export { logSettings } from './budget.ts'
