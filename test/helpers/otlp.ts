import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Teardown } from './stack.ts'

export interface OtlpSpan {
  traceId: string
  spanId: string
  parentSpanId?: string
  name: string
  kind: number
  attributes?: Array<{ key: string; value: Record<string, unknown> }>
  events?: Array<{ name: string; attributes?: Array<{ key: string; value: Record<string, unknown> }> }>
  links?: Array<{ traceId: string; spanId: string }>
  status?: { code?: number; message?: string }
}

export const SERVER = 2
export const CLIENT = 3

/** An OTLP/HTTP receiver: what is posted to /v1/traces (as JSON) is kept, raw and as spans. */
export async function receiver (t: Teardown) {
  const bodies: string[] = []
  const server = createServer((req, res) => {
    let body = ''
    req.on('data', (d) => (body += d))
    req.on('end', () => {
      if (req.url === '/v1/traces') bodies.push(body)
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}')
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => server.close())
  const spans = (): OtlpSpan[] => bodies.flatMap((b) => JSON.parse(b).resourceSpans.flatMap((r: any) => r.scopeSpans.flatMap((s: any) => s.spans)))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, bodies, spans }
}

export const attr = (s: OtlpSpan, key: string) => {
  const v = s.attributes?.find((a) => a.key === key)?.value
  return v === undefined ? undefined : (v.stringValue ?? v.intValue ?? v.arrayValue)
}
