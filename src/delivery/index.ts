/**
 * Asynchronous delivery (`Prefer: respond-async`), composed by `createDelivery` (service.ts),
 * with its routes (route.ts, resend.ts) and outcome callbacks (callbacks.ts). What a newcomer must hold:
 *
 * 1. **Update**: an accepted write, stored with its state (queued, retrying, written, failed)
 *    before the 202 (src/coordination/delivery.ts); its values are dropped once it settles.
 * 2. **Due list**: the conversations with updates pending, by when each is next to be tried.
 *    Accepting stores the update and puts its conversation there in one atomic step.
 * 3. **Claim**: a replica takes a due conversation by pushing its due time a lease ahead (25 s);
 *    should the replica die, the lease runs out and the conversation is due again. An attempt
 *    ends sooner (worker.ts), so nothing renews it.
 * 4. **Attempt**: a conversation's pending updates, one write per participant, through the
 *    synchronous pipeline at bulk priority (queue, lock, budget, order of acceptance).
 * 5. **Retry**: a failure whose catalogue entry is retryable (errors.ts) leaves them `retrying`,
 *    due again after the shared backoff (updates/retry.ts); any other, or ASYNC_MAX_AGE_MS, settles them `failed`.
 * 6. **Scheduler** (worker.ts): one, over either store (memory, Redis): fewer attempts at once while the loop is busy.
 */
export { redisPersistence } from './persistence.ts'
export { prefersAsync } from './prefer.ts'
export { default as resendRoutes } from './resend.ts'
export { default as updateRoutes } from './route.ts'
export { createDelivery } from './service.ts'
export type { AsyncDelivery } from './service.ts'
export { acceptedSchema, view } from './views.ts'
