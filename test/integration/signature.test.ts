import t from 'tap'
import { sign } from '../../src/access/signature.ts'
import { id, startStack } from '../helpers/stack.ts'
import { marked } from '../helpers/readme.ts'
import { FakeClock } from '../helpers/clock.ts'

const secret = 'whsec-example-0123456789abcdef'
const env = { API_KEYS: 'crm:crm-key:bulk,flow:flow-key', SIGNING_SECRETS: `crm:${secret}` }

t.test('a key with a signing secret must sign each request with it, freshly', async (t) => {
  const { sim, post } = await startStack(t, { env })
  const url = `/participants/${id()}/${id()}/data`
  const body = JSON.stringify({ attributes: { tier: 'gold' } })
  const crm = (signature?: string) => post(url, body, { 'x-api-key': 'crm-key', ...(signature && { 'x-signature': signature }) })

  t.equal((await crm(sign(secret, body))).status, 200, 'signed: accepted')

  const cases: Array<[string, string | undefined, RegExp]> = [
    ['unsigned', undefined, /required for API key "crm"/],
    ['signed with another secret', sign('another-secret-0123456789', body), /does not match/],
    ['signed over other bytes', sign(secret, body + ' '), /does not match/],
    ['six minutes old', sign(secret, body, Math.floor(Date.now() / 1000) - 360), /more than 300 s/],
    ['from the future', sign(secret, body, Math.floor(Date.now() / 1000) + 360), /more than 300 s/],
    ['malformed', 'v1=abc', /must be t=<unix seconds>,v1=<64 hex digits>/],
  ]
  for (const [name, signature, detail] of cases) {
    const a = await crm(signature)
    t.equal(a.status, 401, name)
    t.equal(a.body.code, 'SIGNATURE_INVALID', name)
    t.match(a.body.detail, detail, name)
    t.equal(a.body.errors[0].path, '/x-signature')
  }
  t.equal(sim.stats.writes, 1, 'none of the refused ones was written')
  t.equal((await post(url, body, { 'x-api-key': 'flow-key' })).status, 200, 'keys without a secret need no signature')
})

t.test("the README's worked example is a signature this service accepts", async (t) => {
  const example = await marked('signature-example')
  t.ok(example, 'the README has the example')
  const header = example!.match(/X-Signature: (t=\d+,v1=[0-9a-f]{64})/)![1]!
  const t0 = Number(header.match(/t=(\d+)/)![1])
  t.match(example, secret, 'with the secret the test uses')
  t.equal(header, sign(secret, '{"attributes":{"tier":"gold"}}', t0), 'the HMAC shown is right')
  // Accepted by the service when "now" is the example's time.
  const { post } = await startStack(t, { env, deps: { clock: new FakeClock(t0 * 1000 + 1000) } })
  const a = await post(`/participants/${id()}/${id()}/data`, '{"attributes":{"tier":"gold"}}', { 'x-api-key': 'crm-key', 'x-signature': header })
  t.equal(a.status, 200)
})

t.test('SIGNING_SECRETS must name API keys, with secrets long enough', async (t) => {
  const { loadConfig, ConfigError } = await import('../../src/config.ts')
  const problems = (v: string) => {
    try {
      loadConfig({ API_KEYS: 'crm:k', SIGNING_SECRETS: v })
      return []
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err
      return err.problems
    }
  }
  t.match(problems('nobody:0123456789abcdef'), [/"nobody" is not a name in API_KEYS/])
  t.match(problems('crm:short'), [/at least 16 characters/])
  t.same(problems(`crm:${secret}`), [])
})

t.test('a whsec_ secret must be what Standard Webhooks senders give: base64 of the key after the prefix', async (t) => {
  const { loadConfig, ConfigError } = await import('../../src/config.ts')
  const { Webhook } = await import('standardwebhooks')
  const problems = (v: string) => {
    try {
      loadConfig({ API_KEYS: 'crm:k', SIGNING_SECRETS: v })
      return []
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err
      return err.problems
    }
  }
  const bad = ['whsec_not-base64-at-all!!!', 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS', 'whsec_c2hvcnQta2V5LTEyMzQ=']
  for (const v of bad) {
    const [problem] = problems(`crm:${v}`)
    t.match(problem, /^SIGNING_SECRETS: the secret of "crm" starts with whsec_, so it is a Standard Webhooks secret: whsec_ then at least 16 bytes in padded base64$/, v)
    t.notMatch(problem, v.slice(6), 'without echoing the secret')
  }
  const good = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'
  t.same(problems(`crm:${good}`), [])
  t.equal(loadConfig({ API_KEYS: 'crm:k', SIGNING_SECRETS: `crm:${good}` }).apiKeys[0]!.signingSecret, good)
  t.doesNotThrow(() => new Webhook(good), 'and the reference library takes it')
})
