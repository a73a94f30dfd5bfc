/**
 * Access: who may call, and what each caller may do. Its concepts:
 * 1. **API keys** (keys-file.ts, auth.ts): API_KEYS (read with the rest of the config), or
 *    API_KEYS_FILE with names, priorities, hashes and scopes; auth finds the presented key, and
 *    with it the caller's name, priority and scope.
 * 2. **Scope** (scope.ts): the operations and attribute names a key may use, in the API and the console.
 * 3. **Signatures** (signature.ts, x-signature.ts, standard-webhooks.ts): an HMAC over the raw
 *    body, in either of two schemes, checked after the strict parse and before validation.
 * 4. **Replays** (signature.ts; its store is in src/coordination/): a signed request counts once,
 *    sent to another URL too (a repeat to the same URL gets its first answer: src/idempotency/).
 * 5. **The console's credential** (console-credential.ts): the console acts for a signed-in key
 *    with a credential of its own, which auth knows as one more key.
 */
export { default as auth, digestOf } from './auth.ts'
export { consoleCredential, withConsoleCredentials } from './console-credential.ts'
export { isWebhookSecret, keysFile } from './keys-file.ts'
export { EVERYTHING, allows, requireAttributes, requireOperation, scopeOf, visible } from './scope.ts'
export { default as signature } from './signature.ts'
