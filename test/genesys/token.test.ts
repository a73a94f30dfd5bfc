import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import { Agent } from 'undici'
import { TokenProvider } from '../../src/genesys/token.ts'

async function tokenServer (t: { teardown(fn: () => unknown): void }, expiresIn = 300) {
  let issued = 0
  const server = createServer((req, res) => {
    req.resume()
    req.on('end', () => {
      issued++
      res.setHeader('content-type', 'application/json')
      res.end(JSON.stringify({ access_token: `T${issued}`, token_type: 'bearer', expires_in: expiresIn }))
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise((resolve) => server.close(resolve)))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, issued: () => issued }
}

t.test('a late 401 for an old token does not throw away the new one', async (t) => {
  const { url, issued } = await tokenServer(t)
  const tokens = new TokenProvider({ loginUrl: url, clientId: 'i', clientSecret: 's', dispatcher: new Agent(), timeoutMs: 1000 })
  t.equal(await tokens.get(), 'T1')
  tokens.invalidate('T1') // the first caller's 401
  t.equal(await tokens.get(), 'T2')
  tokens.invalidate('T1') // a slower caller's 401, for the same old token
  t.equal(await tokens.get(), 'T2', 'T2 is still in use')
  t.equal(issued(), 2, 'no third token request')
})

t.test('refreshes in the last tenth of the lifetime, capped at one minute, and not before', async (t) => {
  for (const [expiresIn, early] of [
    [300, 30_000],
    [86_400, 60_000],
  ] as const) {
    const { url, issued } = await tokenServer(t, expiresIn)
    let clock = 1_000_000
    const tokens = new TokenProvider({ loginUrl: url, clientId: 'i', clientSecret: 's', dispatcher: new Agent(), timeoutMs: 1000, clock: () => clock })
    await tokens.get()
    clock += expiresIn * 1000 - early - 1
    await tokens.get()
    t.equal(issued(), 1, `${expiresIn} s token: still cached ${early / 1000} s + 1 ms before expiry`)
    clock += 1
    await tokens.get()
    t.equal(issued(), 2, `${expiresIn} s token: refreshed ${early / 1000} s before expiry`)
  }
})
