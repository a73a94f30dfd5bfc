// What the tutorials teach: per request GET, merge, PATCH, retry on 409 with backoff; no
// serialization, so concurrent callers race each other.
import { setTimeout as sleep } from 'node:timers/promises'
import { request } from 'undici'
import { dispatcher, serve, sim, token } from './common.ts'

const bearer = `Bearer ${await token()}`
const headers = { authorization: bearer, 'content-type': 'application/json' }
await serve(async (c, p, attributes) => {
  for (let attempt = 1; attempt <= 6; attempt++) {
    const got = await request(`${sim}/api/v2/conversations/${c}`, { dispatcher, headers })
    const conversation = (await got.body.json()) as { participants: Array<{ id: string; attributes?: Record<string, string> }> }
    const current = conversation.participants.find((x) => x.id === p)?.attributes ?? {}
    const res = await request(`${sim}/api/v2/conversations/${c}/participants/${p}/attributes`, {
      method: 'PATCH',
      dispatcher,
      headers,
      body: JSON.stringify({ attributes: { ...current, ...attributes } }),
    })
    await res.body.dump()
    if (res.statusCode < 300) return { status: 200, body: { ok: true } }
    if (res.statusCode !== 409) return { status: 502, body: { ok: false } }
    await sleep(Math.min(50 * 2 ** (attempt - 1), 1000) * (0.5 + Math.random()))
  }
  return { status: 409, body: { ok: false } }
})
