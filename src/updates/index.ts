/**
 * The write pipeline, composed by `createPipeline` (pipeline.ts). Its concepts:
 * 1. **Queue and lanes** (queue.ts, lane.ts): one write in flight per conversation; callers'
 *    updates to one participant wait in a batch and go out together, and each caller is answered
 *    by its deadline.
 * 2. **The write attempt** (write.ts): read, merge, PATCH for a batch, seen through a `Job`; it
 *    returns what it wrote, and the queue decides what that means for the batch and its callers.
 * 3. **The budget** (budget.ts, budget-line.ts): a write's Genesys requests reserved before its
 *    first, each dated when it is sent; live callers first (its log is in src/coordination/).
 * 4. **Retries** (retry.ts): what is tried again, after which backoff, within the deadline.
 * 5. **Read-your-writes** (journal.ts): what a late read shows is not written back over ours.
 * 6. **Reads** (read.ts): read-back and conversation reads, through the same budget and retries.
 */
export { createPipeline, type Updates } from './pipeline.ts'
export type { Urgency } from './ports.ts'
export { backoff, type Backoff } from './retry.ts'
export { within } from './tracing.ts'
export { toApiError } from './answer.ts'
export { logSettings } from './budget.ts'
