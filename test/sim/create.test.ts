import { execFile, spawn } from 'node:child_process'
import { promisify } from 'node:util'
import t from 'tap'
import { request } from 'undici'
import { buildSimulator } from '../../src/sim/simulator.ts'
import { id, send, startStack, type Teardown } from '../helpers/stack.ts'
import { markedShell } from '../helpers/readme.ts'
import { dist } from '../helpers/dist.ts'

// Issue 13 item 9 (the simulator's part): with SIM_STRICT=1 nothing is made up, so
// POST /__sim/conversations is how a conversation comes to exist.

const root = new URL('../../', import.meta.url)

/** The curl the README's simulator section shows, as a user would paste it. */
async function readmeCurl (): Promise<string> {
  const block = await markedShell('sim-create-curl')
  if (!block) throw new Error('README.md has no sim-create-curl block')
  return block.replaceAll('\\\n', ' ').trim()
}

/** `npm run sim`'s entry point in a process of its own, compiled as `npm run sim` runs it. */
async function standalone (t: Teardown, env: Record<string, string>): Promise<string> {
  const [node, ...args] = dist('sim/main.js')
  const child = spawn(node!, args, {
    cwd: root,
    env: { PATH: process.env.PATH, SIM_PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL')
  })
  let out = ''
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the simulator did not listen within 60 s:\n${out}`)), 60_000)
    const seen = (d: Buffer) => {
      out += d
      const m = out.match(/Server listening at (http:\/\/127\.0\.0\.1:\d+)/)
      if (m) {
        clearTimeout(timer)
        resolve(m[1]!)
      }
    }
    child.stdout.on('data', seen)
    child.stderr.on('data', seen)
    child.on('exit', (code) => reject(new Error(`the simulator exited ${code}:\n${out}`)))
  })
}

async function api (url: string, method: 'GET' | 'PATCH', path: string, token: string, body?: unknown) {
  const res = await request(url + path, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  })
  const text = await res.body.text()
  return { status: res.statusCode, body: text === '' ? undefined : JSON.parse(text) }
}

async function token (url: string): Promise<string> {
  const res = await request(`${url}/oauth/token`, {
    method: 'POST',
    headers: { authorization: 'Basic ' + Buffer.from('sandbox:sandbox').toString('base64'), 'content-type': 'application/x-www-form-urlencoded' },
    body: 'grant_type=client_credentials',
  })
  return ((await res.body.json()) as { access_token: string }).access_token
}

t.test("SIM_STRICT=1 npm run sim: the README's curl creates a conversation that GET and PATCH then find", async (t) => {
  // Reads as soon as written: this test is about strict mode; the lag has test/sim/lag.test.ts.
  const url = await standalone(t, { SIM_STRICT: '1', SIM_READ_LAG_MS: '0' })
  const tok = await token(url)
  t.equal((await api(url, 'GET', `/api/v2/conversations/${id()}`, tok)).status, 404, 'strict: an unknown conversation is 404')

  const { stdout } = await promisify(execFile)('sh', ['-c', (await readmeCurl()).replace('http://127.0.0.1:8787', url)])
  const created = JSON.parse(stdout)
  t.match(created, { id: /^[0-9a-f-]{36}$/, startTime: String, participants: [{ id: /^[0-9a-f-]{36}$/, purpose: 'customer' }, { id: /^[0-9a-f-]{36}$/, purpose: 'agent' }] })

  const read = await api(url, 'GET', `/api/v2/conversations/${created.id}`, tok)
  t.equal(read.status, 200, 'GET with a token finds it')
  t.same(read.body, created, 'as the create answer showed it')

  const customer = created.participants[0].id
  const path = `/api/v2/conversations/${created.id}/participants/${customer}/attributes`
  t.equal((await api(url, 'PATCH', path, tok, { attributes: { tier: 'gold' } })).status, 202, 'PATCH works')
  t.same((await api(url, 'GET', `/api/v2/conversations/${created.id}`, tok)).body.participants[0].attributes, { tier: 'gold' })
  const stranger = await api(url, 'PATCH', `/api/v2/conversations/${created.id}/participants/${id()}/attributes`, tok, { attributes: { a: 'b' } })
  t.equal(stranger.status, 404, 'still strict about participants')
})

t.test('POST /__sim/conversations: chosen ids and attributes, no body, and what it refuses', async (t) => {
  const sim = buildSimulator({ strict: true })
  const url = await sim.app.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(() => sim.app.close())
  const create = (body?: unknown) => send(`${url}/__sim/conversations`, 'POST', body)

  const c = id()
  const p = id()
  const chosen = await create({ id: c.toUpperCase(), participants: [{ id: p, purpose: 'external', attributes: { crm: 'A-1' } }, { purpose: 'agent' }] })
  t.equal(chosen.status, 201)
  t.equal(chosen.headers.location, `/api/v2/conversations/${c}`)
  t.equal(chosen.body.id, c, 'ids are lowercased, as Genesys writes them')
  t.same(sim.attributes(c, p), { crm: 'A-1' })
  t.same(sim.conversation(c)!.participants.map((x) => x.purpose), ['external', 'agent'])

  const bare = await send(`${url}/__sim/conversations`, 'POST')
  t.equal(bare.status, 201, 'no body at all')
  t.same(bare.body.participants.map((x: { purpose: string }) => x.purpose), ['customer', 'agent'])

  const again = await create({ id: c })
  t.equal(again.status, 409, 'an id already taken')
  t.equal(again.body.code, 'conflict')
  t.same(sim.conversation(c)!.participants.map((x) => x.id)[0], p, 'and the conversation is untouched')

  const refused: Array<[unknown, RegExp]> = [
    [{ id: 'not-a-uuid' }, /^\/id: /],
    [{ participants: [] }, /^\/participants: /],
    [{ participants: [{ purpose: '' }] }, /^\/participants\/0\/purpose: /],
    [{ participants: [{ purpose: 'customer', attributes: { n: 1 } }] }, /^\/participants\/0\/attributes\/n: /],
    [{ participants: [{ id: p, purpose: 'customer' }, { id: p, purpose: 'agent' }] }, /^\/participants: participant ids must differ/],
    [{ conversation: {} }, /^\/conversation: .*conversation/],
  ]
  for (const [body, message] of refused) {
    const a = await create(body)
    t.equal(a.status, 400, JSON.stringify(body))
    t.match(a.body, { code: 'bad.request', message }, 'in a Genesys error body naming the field')
  }
})

t.test('the gateway in front of a strict simulator writes to a conversation created this way', async (t) => {
  const { sim, post, config } = await startStack(t, { sim: { strict: true } })
  const created = await send(`${config.genesys.apiUrl}/__sim/conversations`, 'POST', {})
  t.equal(created.status, 201)
  const a = await post(`/conversations/${created.body.id}/data`, { attributes: { tier: 'gold' } })
  t.equal(a.status, 200)
  t.equal(a.body.participantId, created.body.participants[0].id, 'its customer')
  t.same(sim.attributes(created.body.id, a.body.participantId), { tier: 'gold' })
})
