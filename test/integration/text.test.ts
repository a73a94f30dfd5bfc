import t from 'tap'
import { request } from 'undici'
import { id, startStack } from '../helpers/stack.ts'

/** Sends bytes exactly as given: undici would not re-encode a Buffer. */
async function sendBytes (url: string, body: Buffer | string) {
  const res = await request(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: typeof body === 'string' ? Buffer.from(body) : body })
  return { status: res.statusCode, body: (await res.body.json()) as any }
}

const bytes = (...parts: Array<string | number[]>) => Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : Buffer.from(p))))

t.test('text that could only be read by changing it is refused, naming where, and nothing is written', async (t) => {
  const { sim, url, app } = await startStack(t)
  const path = `${url}/participants/${id()}/${id()}/data`
  const conversationPath = `${url}/conversations/${id()}/data`
  const cases: Array<[name: string, body: Buffer | string, field: string, message: RegExp]> = [
    ['invalid UTF-8 in a value', bytes('{"attributes":{"ok":"x","name":"ab', [0xff], 'c"}}'), '/attributes/name', /not UTF-8/],
    ['an overlong UTF-8 encoding', bytes('{"attributes":{"slash":"', [0xc0, 0xaf], '"}}'), '/attributes/slash', /not UTF-8/],
    ['a UTF-8-encoded surrogate', bytes('{"attributes":{"s":"', [0xed, 0xa0, 0x80], '"}}'), '/attributes/s', /not UTF-8/],
    ['a truncated sequence in a name', bytes('{"attributes":{"n', [0xc3], '":"v"}}'), '/attributes', /not UTF-8/],
    ['a lone high surrogate', '{"attributes":{"a":"x\\ud800"}}', '/attributes/a', /lone UTF-16 surrogate/],
    ['a lone low surrogate in a name', '{"attributes":{"\\udc00k":"v"}}', '/attributes/\udc00k', /name holds a lone/],
    ['surrogates the wrong way round', '{"attributes":{"a":"\\ude00\\ud83d"}}', '/attributes/a', /lone/],
    ['attributes twice: the first map would be dropped', '{"attributes":{"a":"1"},"attributes":{"b":"2"}}', '/attributes', /more than once/],
    ['a name twice in the map', '{"attributes":{"a":"1","b":"2","a":"3"}}', '/attributes/a', /more than once/],
    ['a name twice under data', '{"data":{"a":"1","a":"1"}}', '/data/a', /more than once/],
    ['a name twice, once with space before its colon', '{"attributes":{"a":"1","a" :"2","b":"3"}}', '/attributes/a', /more than once/],
    ['a name twice, once escaped', '{"attributes":{"a":"1","\\u0061":"2"}}', '/attributes/a', /more than once/],
    ['a name twice, hidden by an escaped colon', '{"attributes":{"a":"1","a":"2","b":"\\u003a"}}', '/attributes/a', /more than once/],
    ['a name twice, deep down', '{"attributes":{"x":{"y":[{"k":1,"k":2}]}}}', '/attributes/x/y/0/k', /more than once/],
    ['participantId twice', `{"participantId":"${id()}","participantId":"${id()}","attributes":{"a":"1"}}`, '/participantId', /more than once/],
    ['NUL in a value', '{"attributes":{"a":"x\\u0000y"}}', '/attributes/a', /U\+0000/],
    ['backspace in a value', '{"attributes":{"a":"x\\by"}}', '/attributes/a', /U\+0008/],
    ['form feed in a value', '{"attributes":{"a":"\\f"}}', '/attributes/a', /U\+000C/],
    ['U+001F in a value', '{"attributes":{"a":"\\u001f"}}', '/attributes/a', /U\+001F/],
    ['NUL in a top-level name', '{"attributes":{"a":"1"},"x\\u0000":1}', '/x\u0000', /name holds the control character U\+0000/],
    ['a right-to-left override in a name', '{"attributes":{"admin\u202E":"1"}}', '/attributes/admin\u202E', /U\+202E/],
    ['a left-to-right isolate in a name', '{"attributes":{"\u2066tier":"1"}}', '/attributes/\u2066tier', /U\+2066/],
    ['a left-to-right mark in a name', '{"attributes":{"tier\u200E":"1"}}', '/attributes/tier\u200E', /U\+200E/],
    ['a zero-width space in a name', '{"attributes":{"ti\u200Ber":"1"}}', '/attributes/ti\u200Ber', /U\+200B/],
    ['a word joiner in a name', '{"attributes":{"ti\u2060er":"1"}}', '/attributes/ti\u2060er', /U\+2060/],
    ['a byte order mark in a name', '{"attributes":{"\uFEFFtier":"1"}}', '/attributes/\uFEFFtier', /U\+FEFF/],
  ]
  for (const [name, body, field, message] of cases) {
    for (const target of [path, conversationPath]) {
      const a = await sendBytes(target, body)
      t.equal(a.status, 400, `${name}: 400`)
      t.equal(a.body.code, 'INVALID_BODY', name)
      const error = a.body.errors?.find((e: { path: string }) => e.path === field)
      t.ok(error, `${name}: names ${JSON.stringify(field)} in ${JSON.stringify(a.body.errors)}`)
      t.match(error?.message, message, `${name}: says why`)
    }
  }
  t.equal(sim.stats.writes, 0, 'Genesys was sent nothing')
  t.equal(sim.stats.reads, 0, 'not even read')

  // Through app.inject too, where no socket is involved: the same refusal.
  const injected = await app.inject({ method: 'POST', url: path.slice(url.length), headers: { 'content-type': 'application/json' }, payload: bytes('{"attributes":{"a":"', [0xfe], '"}}') })
  t.equal(injected.statusCode, 400)
  t.equal(injected.json().code, 'INVALID_BODY')
})

t.test('a body nested thousands deep is a 400, not a crash', async (t) => {
  const { sim, url } = await startStack(t)
  for (const body of ['['.repeat(30_000) + ']'.repeat(30_000), `{"attributes":{"a":${'['.repeat(20_000)}${']'.repeat(20_000)}}}`]) {
    const a = await sendBytes(`${url}/participants/${id()}/${id()}/data`, body)
    t.equal(a.status, 400)
    t.equal(a.body.code, 'INVALID_BODY')
  }
  t.equal(sim.stats.reads + sim.stats.writes, 0, 'Genesys was sent nothing')
})

t.test('nothing already accepted is refused', async (t) => {
  const { sim, url } = await startStack(t)
  const c = id()
  const p = id()
  const accepted = {
    tab: 'a\tb',
    lines: 'one\r\ntwo\n',
    emoji: '😀 👩‍👩‍👧',
    replacement: 'already \uFFFD in the text',
    rtl: 'שלום \u202Eevil\u202C', // values may hold any character: only names are held to more
    zw: 'a\u200Bb\uFEFF',
    url: 'https://crm.example.com/x?a=1:2',
    time: '12:30:00',
    escaped: 'é',
  }
  const body = JSON.stringify({ attributes: accepted }).replace('é', '\\u00e9')
  const a = await sendBytes(`${url}/participants/${c}/${p}/data`, body)
  t.equal(a.status, 200, JSON.stringify(a.body))
  t.same(sim.attributes(c, p), accepted, 'Genesys holds every value exactly as sent')
})

t.test('value length counts Unicode code points, as a reader counts characters', async (t) => {
  const { sim, url } = await startStack(t, { env: { MAX_VALUE_LENGTH: '3' } })
  const c = id()
  const p = id()
  const ok = await sendBytes(`${url}/participants/${c}/${p}/data`, JSON.stringify({ attributes: { e: '😀😀😀' } }))
  t.equal(ok.status, 200, 'three emoji are three characters (six UTF-16 units)')
  const long = await sendBytes(`${url}/participants/${c}/${p}/data`, JSON.stringify({ attributes: { e: '😀😀😀😀' } }))
  t.equal(long.status, 400)
  t.match(long.body.errors, [{ path: '/attributes/e', message: 'value is 4 characters (Unicode code points) long; at most 3' }])
  t.same(sim.attributes(c, p), { e: '😀😀😀' }, 'the refused value was not written')
})
