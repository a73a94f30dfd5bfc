// The ceiling for one hop: forward the body to Genesys's PATCH, no queue, no read, no checks.
import { request } from 'undici'
import { dispatcher, serve, sim, token } from './common.ts'

const bearer = `Bearer ${await token()}`
await serve(async (c, p, attributes) => {
  const res = await request(`${sim}/api/v2/conversations/${c}/participants/${p}/attributes`, {
    method: 'PATCH',
    dispatcher,
    headers: { authorization: bearer, 'content-type': 'application/json' },
    body: JSON.stringify({ attributes }),
  })
  await res.body.dump()
  return { status: res.statusCode < 300 ? 200 : 502, body: { ok: res.statusCode < 300 } }
})
