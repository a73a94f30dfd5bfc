import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import t from 'tap'
import { request as get } from 'undici'
import { dataAction } from '../../src/data-action/build.ts'
import { dataActionOptions } from '../../src/data-action/options.ts'
import { dataActionTerraform } from '../../src/data-action/terraform.ts'
import { block, parseHcl, sameAsJson } from '../data-action/hcl.ts'
import { id, send, startStack } from '../helpers/stack.ts'
import { dist } from '../helpers/dist.ts'

/**
 * The slice of Velocity a Genesys Data Action request uses: ${input.x}, $esc.jsonString(...)
 * and $esc.url(...), escaping as Genesys's Java tools do (non-ASCII as \uXXXX, / as \/, spaces
 * in URLs as +), so the test sees the bytes Genesys would send.
 */
function render (template: string, input: Record<string, string>): string {
  const value = (name: string) => {
    if (!(name in input)) throw new Error(`template uses \${input.${name}}, which the contract does not provide`)
    return input[name]!
  }
  const jsonString = (s: string) =>
    // eslint-disable-next-line no-control-regex -- the control characters are what this escapes
    s.replace(/["\\/\u0000-\u001f\u007f-\uffff]/g, (ch) => {
      const named: Record<string, string> = { '"': '\\"', '\\': '\\\\', '/': '\\/', '\b': '\\b', '\f': '\\f', '\n': '\\n', '\r': '\\r', '\t': '\\t' }
      return named[ch] ?? `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0').toUpperCase()}`
    })
  const url = (s: string) => encodeURIComponent(s).replace(/%20/g, '+')
  // One pass: a value that looks like Velocity is data, never evaluated again.
  return template.replace(/\$esc\.(jsonString|url)\(\$\{input\.(\w+)\}\)|\$\{input\.(\w+)\}/g, (_, tool: string | undefined, n: string, bare: string) =>
    tool === 'jsonString' ? jsonString(value(n)) : tool === 'url' ? url(value(n)) : value(bare)
  )
}

const hostile = {
  customer_tier: 'quote " backslash \\ slash / end',
  // No NUL or other C0 control but tab, newline and carriage return: those are refused (docs/security.md).
  crm_id: 'line1\nline2\r\n\ttab end',
  note: 'café 日本語 emoji 🎉 and \u2028 separator',
  empty: '',
  velocity: '${input.crm_id} $esc.url(x) #set($a = 1)',
}

t.test('a generated Data Action, rendered with hostile inputs, writes the values intact', async (t) => {
  const { sim, url } = await startStack(t)
  for (const conversationOnly of [false, true]) {
    const action = dataAction({ baseUrl: url, attributes: Object.keys(hostile), conversationOnly })
    const c = id()
    const p = id()
    const input = { conversationId: c, ...(!conversationOnly && { participantId: p }), ...hostile }
    t.same(action.contract.input.inputSchema.required.sort(), Object.keys(input).sort(), 'the contract asks for the ids and every attribute')
    const { request } = action.config
    const headers = Object.fromEntries(Object.entries(request.headers).map(([k, v]) => [k.toLowerCase(), v]))
    const answer = await send(render(request.requestUrlTemplate, input), 'POST', render(request.requestTemplate, input), headers)
    t.equal(answer.status, 200, `accepted (${conversationOnly ? 'conversation only' : 'with participant'}): ${answer.body.code ?? ''}`)
    const written = sim.attributes(c, answer.body.participantId)
    t.same(written, hostile, 'every value arrived exactly as the flow had it')

    // The response side: each attribute is a JSONPath into our answer, and the template is JSON.
    const { translationMap, successTemplate } = action.config.response
    const values = Object.fromEntries(Object.entries(translationMap).map(([k, path]) => [k, path.split('.').slice(1).reduce((o: any, key) => o[key], answer.body)]))
    const output = JSON.parse(successTemplate.replace(/\$\{(\w+)\}/g, (_, k: string) => JSON.stringify(values[k])))
    t.same(output, { participantId: answer.body.participantId, ...hostile }, 'the outputs read back the attributes')

    // A NUL the flow passes on arrives as \u0000 ($esc.jsonString) and is refused, naming the field, not cut.
    const nul = await send(render(request.requestUrlTemplate, input), 'POST', render(request.requestTemplate, { ...input, crm_id: 'a\u0000b' }), headers)
    t.equal(nul.status, 400)
    t.match(nul.body.errors, [{ path: '/attributes/crm_id', message: /U\+0000/ }])
  }
})

t.test('it asks for our answer a second before its own timeout', async (t) => {
  const action = dataAction({ baseUrl: 'https://gw.example.com/', attributes: ['tier'], timeoutSeconds: 5 })
  t.equal(action.config.timeoutSeconds, 5)
  t.equal(action.config.request.headers['X-Request-Timeout-Ms'], '4000')
  t.match(action.config.request.requestUrlTemplate, /^https:\/\/gw\.example\.com\/participants\//, 'trailing slash dropped')
  t.equal(action.integrationType, 'custom-rest-actions')
})

t.test('npm run data-action prints the same document; bad arguments exit 2 naming the flag', async (t) => {
  const run = promisify(execFile)
  const root = new URL('../../', import.meta.url)
  const [node, ...tsx] = dist('data-action/cli.js')
  const { stdout } = await run(node!, [...tsx, '--base-url', 'https://gw.example.com', '--attributes', 'customer_tier, crm_id', '--conversation-only'], { cwd: root })
  t.same(JSON.parse(stdout), dataAction({ baseUrl: 'https://gw.example.com', attributes: ['customer_tier', 'crm_id'], conversationOnly: true }))
  const err = await run(node!, [...tsx, '--base-url', 'ftp://x', '--attributes', 'bad-name'], { cwd: root }).catch((e: { code: number; stderr: string }) => e)
  t.equal((err as { code: number }).code, 2)
  t.match((err as { stderr: string }).stderr, /--base-url: must be an http\(s\) URL/)
  t.match((err as { stderr: string }).stderr, /--attributes: must start with a letter/)
})

t.test('GET /genesys/data-action serves it, refusing bad attribute names with 400', async (t) => {
  const { url } = await startStack(t, { env: { API_KEYS: 'ops:ops-key' } })
  const auth = { 'x-api-key': 'ops-key' }
  const a = await send(`${url}/genesys/data-action?attributes=customer_tier,crm_id&conversationOnly=true`, 'GET', undefined, auth)
  t.equal(a.status, 200)
  t.same(a.body, dataAction({ baseUrl: url, attributes: ['customer_tier', 'crm_id'], conversationOnly: true }), 'based at the address it was asked on')
  const b = await send(`${url}/genesys/data-action?attributes=customer_tier&baseUrl=${encodeURIComponent(url + '/')}`, 'GET', undefined, auth)
  t.match(b.body.config.request.requestUrlTemplate, `${url}/participants/`, 'its own address may be given')
  const elsewhere = await send(`${url}/genesys/data-action?attributes=customer_tier&baseUrl=https://gw.example.com`, 'GET', undefined, auth)
  t.equal(elsewhere.status, 400, 'another host may not (issue 33): the action would send the key there')
  t.equal(elsewhere.body.errors[0].path, '/baseUrl')
  const bad = await send(`${url}/genesys/data-action?attributes=ok,not-ok`, 'GET', undefined, auth)
  t.equal(bad.status, 400)
  t.equal(bad.body.code, 'INVALID_QUERY')
  t.equal(bad.body.errors[0].path, '/attributes/1')
  t.equal((await send(`${url}/genesys/data-action?attributes=a`, 'GET')).status, 401, 'behind the API keys like everything but health')
})

t.test('credentialType=userDefined: the action sends the credential apiKey as X-API-Key, and the gateway lets it in', async (t) => {
  const { url } = await startStack(t, { env: { API_KEYS: 'flow:flow-key' } })
  const auth = { 'x-api-key': 'flow-key' }
  const get = (query: string) => send(`${url}/genesys/data-action?attributes=tier&conversationOnly=true${query}`, 'GET', undefined, auth)

  const basic = await get('')
  t.same(basic.body, dataAction({ baseUrl: url, attributes: ['tier'], conversationOnly: true }), 'basicAuth is the default')
  t.same((await get('&credentialType=basicAuth')).body, basic.body)
  t.notOk('X-API-Key' in basic.body.config.request.headers, 'Basic Auth adds its own Authorization header; the action adds none')

  const user = await get('&credentialType=userDefined')
  t.equal(user.status, 200)
  t.same(user.body, dataAction({ baseUrl: url, attributes: ['tier'], conversationOnly: true, credentialType: 'userDefined' }))
  const { request } = user.body.config
  t.equal(request.headers['X-API-Key'], '${credentials.apiKey}')

  // What Genesys sends with a User Defined credential whose field apiKey holds one of API_KEYS.
  const input = { conversationId: id(), tier: 'gold' }
  const headers = (h: Record<string, string>) => Object.fromEntries(Object.entries(h).map(([k, v]) => [k.toLowerCase(), v.replace('${credentials.apiKey}', 'flow-key')]))
  const written = await send(render(request.requestUrlTemplate, input), 'POST', render(request.requestTemplate, input), headers(request.headers))
  t.equal(written.status, 200, `the key arrives: ${written.body.code ?? ''}`)
  t.same(written.body.attributes, { tier: 'gold' })
  const unkeyed = await send(render(request.requestUrlTemplate, input), 'POST', render(request.requestTemplate, input), headers(basic.body.config.request.headers))
  t.equal(unkeyed.status, 401, 'without the header a User Defined credential would send no key at all')

  const bad = await get('&credentialType=oauth')
  t.equal(bad.status, 400)
  t.equal(bad.body.code, 'INVALID_QUERY')
  t.equal(bad.body.errors[0].path, '/credentialType')
  t.match(bad.body.detail, /credentialType: must be basicAuth or userDefined/)

  // A misspelt option would otherwise be dropped, and the action built without it.
  const misspelt = await get('&credentialtype=userDefined')
  t.equal(misspelt.status, 400, 'an unknown query parameter is refused')
  t.equal(misspelt.body.code, 'INVALID_QUERY')
  t.equal(misspelt.body.errors[0].path, '/credentialtype')
})

t.test('the timeout bounds are the same on the route and in the builder', async (t) => {
  const { url } = await startStack(t, { env: { API_KEYS: 'ops:ops-key' } })
  for (const [seconds, status] of [['1', 400], ['2', 200], ['60', 200], ['61', 400], ['ten', 400]] as const) {
    const a = await send(`${url}/genesys/data-action?attributes=tier&timeoutSeconds=${seconds}`, 'GET', undefined, { 'x-api-key': 'ops-key' })
    t.equal(a.status, status, `timeoutSeconds=${seconds}`)
    if (status === 400) t.equal(a.body.errors[0].path, '/timeoutSeconds')
    else t.equal(a.body.config.request.headers['X-Request-Timeout-Ms'], String(Number(seconds) * 1000 - 1000))
    t.equal(status === 200, dataActionOptions.safeParse({ baseUrl: url, attributes: ['tier'], timeoutSeconds: Number(seconds) }).success, 'the builder agrees')
  }
})

t.test('format=terraform: the same action as a .tf download, the API key left to a variable', async (t) => {
  const apiKey = 'ops-key-that-must-not-leak'
  // A base path Terraform would read as an interpolation and a directive, and names HCL keeps for itself.
  const baseUrl = 'https://gw.example.com/a${b}/%{c}/$${d}'
  const { url } = await startStack(t, { env: { API_KEYS: `ops:${apiKey}` } })
  // Outside sandbox an export names only this service's own address (issue 33): there, PUBLIC_URL is that one.
  const behindProxy = await startStack(t, { env: { API_KEYS: `ops:${apiKey}`, PUBLIC_URL: baseUrl } })
  const download = async (query: string, at = url) => {
    const res = await get(`${at}/genesys/data-action?${query}`, { headers: { 'x-api-key': apiKey } })
    return { status: res.statusCode, headers: res.headers, text: await res.body.text() }
  }
  const options = { baseUrl, attributes: ['customer_tier', 'for', 'null'], credentialType: 'userDefined' as const }
  const tf = await download(`attributes=customer_tier,for,null&credentialType=userDefined&format=terraform&baseUrl=${encodeURIComponent(baseUrl)}`, behindProxy.url)
  t.equal(tf.status, 200)
  t.equal(tf.headers['content-type'], 'text/plain; charset=utf-8')
  t.equal(tf.headers['content-disposition'], 'attachment; filename="data-action.tf"', 'a browser saves it as a file')
  t.equal(tf.text, dataActionTerraform(options))
  await sameAsJson(t, tf.text, dataAction(options))
  t.notMatch(tf.text, apiKey, 'the API key the request carried is nowhere in the file')

  const here = await download('attributes=tier&conversationOnly=true&format=terraform')
  const action = block(await parseHcl(here.text), 'resource', 'genesyscloud_integration_action', 'set_participant_data')
  t.match(action.config_request[0].request_url_template, `${url}/conversations/`, 'based at the address it was asked on')

  const json = await download('attributes=tier&format=json')
  t.equal(json.headers['content-type'], 'application/json; charset=utf-8')
  t.notOk(json.headers['content-disposition'], 'the JSON is answered as before')
  t.same(JSON.parse(json.text), dataAction({ baseUrl: url, attributes: ['tier'] }))

  const bad = await download('attributes=tier&format=hcl')
  t.equal(bad.status, 400)
  t.equal(JSON.parse(bad.text).code, 'INVALID_QUERY')
  t.equal(JSON.parse(bad.text).errors[0].path, '/format')

  // A key in the base URL would sit in the action's URL, and in the .tf file, in plain sight.
  const keyed = await download(`attributes=tier&format=terraform&baseUrl=${encodeURIComponent(`https://flow:${apiKey}@gw.example.com`)}`)
  t.equal(keyed.status, 400)
  t.equal(JSON.parse(keyed.text).errors[0].path, '/baseUrl')
  t.match(JSON.parse(keyed.text).detail, /must not hold a user name or password/)
})
