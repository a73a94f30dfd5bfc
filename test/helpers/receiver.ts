import { once } from 'node:events'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Webhook } from 'standardwebhooks'
import type { Teardown } from './stack.ts'

/** A random Standard Webhooks secret. */
export const whsec = () => `whsec_${Buffer.from(crypto.getRandomValues(new Uint8Array(24))).toString('base64')}`

export interface Received {
  /** The parsed event, verified with the standardwebhooks package (the receivers' reference library). */
  event: { type: string; timestamp: string; data: Record<string, any> }
  headers: Record<string, string | string[] | undefined>
  raw: string
  /** The status this request was answered with. */
  status: number
}

/**
 * A CRM's webhook receiver on port 0: verifies every request's signature with the secret (one
 * that fails verification is recorded in `refused`, answered 401), and answers each with what
 * `answer` says (default 204).
 */
export async function startReceiver (t: Teardown, secret: string, answer: (n: number, req: IncomingMessage, res: ServerResponse) => number | 'hang' = () => 204) {
  const received: Received[] = []
  const refused: string[] = []
  let n = 0
  const verifier = new Webhook(secret)
  const server = createServer((req, res) => {
    let raw = ''
    req.setEncoding('utf8')
    req.on('data', (c) => (raw += c))
    req.on('end', () => {
      let event: Received['event']
      try {
        event = verifier.verify(raw, req.headers as Record<string, string>) as Received['event']
      } catch (err) {
        refused.push((err as Error).message)
        res.statusCode = 401
        return res.end()
      }
      const status = answer(n++, req, res)
      if (status === 'hang') return
      received.push({ event, headers: req.headers, raw, status })
      if (!res.writableEnded) {
        res.statusCode = status
        res.end()
      }
    })
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => {
    server.closeAllConnections()
    server.close()
  })
  const { port } = server.address() as AddressInfo
  return { url: `http://127.0.0.1:${port}/hooks/genesys`, received, refused, server, accepted: () => received.filter((r) => r.status >= 200 && r.status < 300) }
}
