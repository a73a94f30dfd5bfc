// What the two comparison systems share: a token from the simulator and a bare Fastify app.
import Fastify from 'fastify'
import { Agent, request } from 'undici'

export const sim = process.env.SIM_URL!
export const dispatcher = new Agent({ connections: 128, keepAliveTimeout: 10_000 })

export async function token (): Promise<string> {
  const res = await request(`${sim}/oauth/token`, {
    method: 'POST',
    dispatcher,
    headers: { authorization: 'Basic ' + Buffer.from('sandbox:sandbox').toString('base64'), 'content-type': 'application/x-www-form-urlencoded' },
    body: 'grant_type=client_credentials',
  })
  return ((await res.body.json()) as { access_token: string }).access_token
}

export async function serve (handler: (c: string, p: string, attributes: Record<string, string>) => Promise<{ status: number; body: unknown }>) {
  const app = Fastify()
  app.get('/healthz', async () => ({ status: 'ok' }))
  app.post<{ Params: { c: string; p: string }; Body: { attributes: Record<string, string> } }>('/participants/:c/:p/data', async (req, reply) => {
    const { status, body } = await handler(req.params.c, req.params.p, req.body.attributes)
    return reply.status(status).send(body)
  })
  await app.listen({ port: Number(process.env.PORT), host: '127.0.0.1' })
}
