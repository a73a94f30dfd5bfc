import { createHmac, randomBytes } from 'node:crypto'
import type { ApiKey } from '../domain.ts'

/**
 * The console sends a signed-in person's writes and reads through the API (app.inject), as their
 * key. A key given only as keySha256 cannot be presented, so each key has a second credential,
 * the console's own, made from a secret drawn at start-up that never leaves the process. The API
 * knows it as one more key with the same name, scope and priority, so auth has no case of its
 * own for the console, and no caller outside the process can present it.
 */
const SECRET = randomBytes(32)

/** The credential the console presents for the key named `name`. */
export const consoleCredential = (name: string): string => createHmac('sha256', SECRET).update(name).digest('base64url')

/** The keys, each followed by its console credential: the keys auth is to know. */
export function withConsoleCredentials (keys: readonly ApiKey[]): ApiKey[] {
  return keys.flatMap(({ keySha256: _digest, ...k }, i) => [keys[i]!, { ...k, key: consoleCredential(k.name) }])
}
