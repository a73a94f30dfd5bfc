import { randomBytes, timingSafeEqual } from 'node:crypto'

/**
 * The console sends a signed-in person's writes and reads through the API (app.inject), as
 * their key. A key given only as keySha256 cannot be presented, so the console names the key in
 * this header with a token made at start-up, which never leaves the process: only an injected
 * request can carry it, and a request from outside with the header is refused as a wrong key.
 */
export const CONSOLE_HEADER = 'x-pdg-console-session'
const TOKEN = randomBytes(32).toString('base64url')

export const consoleSession = (name: string) => `${TOKEN} ${name}`

/** The key name a console-made request acts for; undefined unless the token is this process's. */
export function onBehalfOf (header: string): string | undefined {
  const space = header.indexOf(' ')
  const given = Buffer.from(header.slice(0, Math.max(space, 0)))
  const token = Buffer.from(TOKEN)
  return given.length === token.length && timingSafeEqual(given, token) ? header.slice(space + 1) : undefined
}
