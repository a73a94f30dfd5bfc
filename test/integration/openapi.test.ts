import { readFile } from 'node:fs/promises'
import { Validator } from '@seriousme/openapi-schema-validator'
import t from 'tap'
import { parse } from 'yaml'
import { CATALOGUE } from '../../src/errors.ts'
import { send, startStack } from '../helpers/stack.ts'

t.test('the served API description is valid OpenAPI 3.1, complete, and the same as openapi.yaml', async (t) => {
  const { url } = await startStack(t, { env: { API_KEYS: 'a:b' } })
  const served = await send(`${url}/openapi.json`, 'GET')
  t.equal(served.status, 200, 'served without an API key')
  const doc = served.body

  const result = await new Validator().validate(structuredClone(doc))
  t.ok(result.valid, `passes the OpenAPI schema validator ${JSON.stringify(result.errors ?? '')}`)
  t.equal(doc.openapi, '3.1.0')

  for (const [path, method] of [
    ['/participants/{conversationId}/{participantId}/data', 'post'],
    ['/participants/{conversationId}/{participantId}/data', 'get'],
    ['/conversations/{conversationId}/data', 'post'],
    ['/genesys/data-action', 'get'],
    ['/healthz', 'get'],
    ['/readyz', 'get'],
  ] as const) {
    t.ok(doc.paths[path]?.[method], `${method.toUpperCase()} ${path} is described`)
  }

  // Every code in the catalogue that a write can answer is listed under its status.
  const write = doc.paths['/conversations/{conversationId}/data'].post
  const listed = new Set(Object.values(write.responses).flatMap((r: any) => r.content?.['application/problem+json']?.schema.properties.code.enum ?? []))
  const unlisted = Object.keys(CATALOGUE).filter((c) => !listed.has(c) && !['ROUTE_NOT_FOUND', 'METHOD_NOT_ALLOWED'].includes(c))
  t.same(unlisted, [], 'every problem code a write can get is described')
  t.ok(write.parameters.some((p: any) => p.in === 'header' && p.name === 'x-request-timeout-ms'), 'the deadline header is described')
  t.ok(write.parameters.some((p: any) => p.in === 'header' && p.name === 'idempotency-key'))
  t.ok(write.requestBody.content['application/json'].schema.properties.purpose)
  t.same(doc.paths['/healthz'].get.security, [], 'health needs no key')

  const file = parse(await readFile(new URL('../../openapi.yaml', import.meta.url), 'utf8'))
  t.same(file, doc, 'openapi.yaml is what the service serves; run `npm run openapi` after changing a route')

  const page = await fetch(`${url}/docs/`)
  t.equal(page.status, 200)
  t.match(await page.text(), /swagger/i, '/docs serves the browsable description')
})
