import t from 'tap'
import { Webhook } from 'standardwebhooks'
import { checkStandardWebhook } from '../../src/access/standard-webhooks.ts'

const secret = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'
const other = new Webhook('whsec_dGhlLW9sZC1zZWNyZXQtYmVpbmctcm90YXRlZA==')
const webhook = new Webhook(secret)
const NOW_S = 1_800_000_000
const body = '{"attributes":{"tier":"gold","note":"café ☕"}}'

const headers = (id: string, at: number, signature: string) => ({ 'webhook-id': id, 'webhook-timestamp': String(at), 'webhook-signature': signature })
const by = (w: Webhook, id: string, at: number, payload = body) => w.sign(id, new Date(at * 1000), payload)

/** Cases a sender or an attacker could send; each is checked by ours and by the reference library. */
const cases: Array<[string, Record<string, string>, string, boolean]> = [
  ['valid', headers('msg_1', NOW_S, by(webhook, 'msg_1', NOW_S)), body, true],
  ['tampered body', headers('msg_1', NOW_S, by(webhook, 'msg_1', NOW_S)), body.replace('gold', 'gilt'), false],
  ['tampered id', headers('msg_2', NOW_S, by(webhook, 'msg_1', NOW_S)), body, false],
  ['tampered timestamp', headers('msg_1', NOW_S - 1, by(webhook, 'msg_1', NOW_S)), body, false],
  ['another secret', headers('msg_1', NOW_S, by(other, 'msg_1', NOW_S)), body, false],
  ['300 s old', headers('msg_1', NOW_S - 300, by(webhook, 'msg_1', NOW_S - 300)), body, true],
  ['stale: 301 s old', headers('msg_1', NOW_S - 301, by(webhook, 'msg_1', NOW_S - 301)), body, false],
  ['300 s ahead', headers('msg_1', NOW_S + 300, by(webhook, 'msg_1', NOW_S + 300)), body, true],
  ['future: 301 s ahead', headers('msg_1', NOW_S + 301, by(webhook, 'msg_1', NOW_S + 301)), body, false],
  ['rotated: old then new', headers('msg_1', NOW_S, `${by(other, 'msg_1', NOW_S)} ${by(webhook, 'msg_1', NOW_S)}`), body, true],
  ['rotated: new then old', headers('msg_1', NOW_S, `${by(webhook, 'msg_1', NOW_S)} ${by(other, 'msg_1', NOW_S)}`), body, true],
  ['rotated: neither valid', headers('msg_1', NOW_S, `${by(other, 'msg_1', NOW_S)} ${by(other, 'msg_1', NOW_S - 1)}`), body, false],
  ['another version, then v1', headers('msg_1', NOW_S, `v1a,c29tZXRoaW5n ${by(webhook, 'msg_1', NOW_S)}`), body, true],
  ['only another version', headers('msg_1', NOW_S, by(webhook, 'msg_1', NOW_S).replace('v1,', 'v2,')), body, false],
  ['truncated signature', headers('msg_1', NOW_S, by(webhook, 'msg_1', NOW_S).slice(0, -4)), body, false],
  ['empty signature', headers('msg_1', NOW_S, 'v1,'), body, false],
  ['no signature header', { 'webhook-id': 'msg_1', 'webhook-timestamp': String(NOW_S) }, body, false],
]

t.test('ours agrees with the reference library on every case', async (t) => {
  // The library reads the clock itself: give it the test's.
  const realNow = Date.now
  Date.now = () => NOW_S * 1000 + 500
  t.teardown(() => { Date.now = realNow })
  for (const [name, sent, payload, valid] of cases) {
    let theirs = true
    try {
      webhook.verify(payload, sent)
    } catch {
      theirs = false
    }
    t.equal(theirs, valid, `${name}: the reference library`)
    t.equal(checkStandardWebhook(webhook, sent, payload, NOW_S * 1000 + 500) === undefined, valid, `${name}: ours`)
  }
})

t.test('each refusal names its header and what is wrong', async (t) => {
  const check = (sent: Record<string, string>, payload = body) => checkStandardWebhook(webhook, sent, payload, NOW_S * 1000)
  const good = by(webhook, 'msg_1', NOW_S)
  t.match(check({ 'webhook-timestamp': String(NOW_S), 'webhook-signature': good }), { header: 'webhook-id', why: /missing/ })
  t.match(check({ 'webhook-id': 'msg_1', 'webhook-signature': good }), { header: 'webhook-timestamp', why: /missing/ })
  t.match(check(headers('msg_1', NOW_S, '')), { header: 'webhook-signature', why: /missing/ })
  t.match(check({ ...headers('msg_1', NOW_S, good), 'webhook-timestamp': '1.8e9' }), { header: 'webhook-timestamp', why: 'must be unix seconds' })
  t.match(check(headers('msg_1', NOW_S - 301, good)), { header: 'webhook-timestamp', why: /more than 300 s in the past/ })
  t.match(check(headers('msg_1', NOW_S + 301, good)), { header: 'webhook-timestamp', why: /more than 300 s in the future/ })
  t.match(check(headers('msg_1', NOW_S, 'v1:abc')), { header: 'webhook-signature', why: /has no v1,<base64 HMAC-SHA256> entry/ })
  t.match(check(headers('msg_1', NOW_S, good), body + ' '), { header: 'webhook-signature', why: /no signature matches/ })
  t.equal(check(headers('msg_1', NOW_S, `  ${good}  `)), undefined, 'extra spaces between entries are harmless')
})
