import t, { type Test } from 'tap'
import { Agent } from 'undici'
import { callbackAgent, isPrivateAddress, urlProblem, type Lookup } from '../../src/delivery/callback-url.ts'
import { CALLBACK_WINDOW_MS, CallbackSender, nextAttempt, type CallbackState } from '../../src/delivery/callbacks.ts'
import { MemoryCallbackStore } from '../../src/coordination/callbacks-memory.ts'
import { view } from '../../src/delivery/views.ts'
import type { Delivery } from '../../src/coordination/delivery.ts'
import { FakeClock } from '../helpers/clock.ts'
import { startReceiver, whsec } from '../helpers/receiver.ts'
import { until } from '../helpers/until.ts'

const settledUpdate = (at: number): Delivery => ({
  id: crypto.randomUUID(),
  caller: 'crm',
  state: 'written',
  conversationId: crypto.randomUUID(),
  participantId: crypto.randomUUID(),
  target: { participantId: 'p' },
  changes: { crm_case: '' },
  seq: 1,
  attempts: 1,
  acceptedAt: at - 100,
  settledAt: at,
  callback: true,
})

/** A sender over a memory store, stepped by a fake clock, to a receiver that answers as told. */
type Answer = Parameters<typeof startReceiver>[2]
async function rig (t: Test, answer: Answer, opts: { start?: number; lookup?: Lookup; url?: string; allowPrivate?: boolean; pollMs?: number } = {}) {
  const secret = whsec()
  const receiver = await startReceiver(t, secret, answer)
  // Behind real time, so that later attempts' webhook-timestamps stay within the verifier's 5 min tolerance.
  const clock = new FakeClock(opts.start ?? Date.now() - 150_000)
  const store = new MemoryCallbackStore()
  const d = settledUpdate(clock.now())
  const attempts: CallbackState[] = []
  const dispatcher = opts.lookup ? callbackAgent({ allowPrivate: opts.allowPrivate ?? false, lookup: opts.lookup, timeoutMs: 2000 }) : new Agent()
  const sender = new CallbackSender(store, {
    clock,
    receivers: new Map([['crm', { url: opts.url ?? receiver.url, secret }]]),
    update: async (id) => (id === d.id ? d : undefined),
    view,
    dispatcher,
    allowPrivate: opts.allowPrivate ?? true,
    concurrency: 4,
    ...(opts.pollMs === undefined ? {} : { pollMs: opts.pollMs }),
    onError: (err) => t.fail(String(err)),
    onAttempt: (s) => attempts.push(s),
  })
  t.teardown(async () => {
    await sender.close(100)
    await dispatcher.close()
  })
  store.settled(d, clock.now())
  sender.wake()
  return { receiver, clock, store, d, attempts, sender }
}

t.test('a receiver that fails twice and then accepts: retried at 5 s and 5 min, delivered at the third, same id and body each time', async (t) => {
  const { receiver, clock, store, d, attempts } = await rig(t, (n) => (n < 2 ? 500 : 204))
  const at0 = clock.now()
  await until(() => attempts.length, (n) => n === 1, { what: 'the first attempt' })
  t.match(await store.get(d.id), { state: 'pending', attempts: 1, lastStatus: 500, nextAttemptAt: at0 + 5000 })
  await clock.advance(4999)
  t.equal(receiver.received.length, 1, 'not before 5 s')
  await clock.advance(1)
  await until(() => attempts.length, (n) => n === 2, { what: 'the second attempt' })
  t.match(await store.get(d.id), { state: 'pending', attempts: 2, nextAttemptAt: at0 + 5000 + 300_000 })
  await clock.advance(300_000)
  await until(() => attempts.length, (n) => n === 3, { what: 'the third attempt' })
  t.match(await store.get(d.id), { state: 'delivered', attempts: 3, lastStatus: 204 })
  t.same(receiver.refused, [], 'each verified')
  t.same(new Set(receiver.received.map((r) => r.headers['webhook-id'])), new Set([`msg_${d.id}`]), 'one webhook-id: the receiver can dedupe')
  t.same(new Set(receiver.received.map((r) => r.raw)).size, 1, 'the same body every time')
  t.same(receiver.received.map((r) => Number(r.headers['webhook-timestamp'])), [at0, at0 + 5000, at0 + 305_000].map((ms) => Math.floor(ms / 1000)), 'signed when sent')
  await clock.advance(3_600_000)
  t.equal(receiver.received.length, 3, 'nothing after it was delivered')
})

t.test('the Svix schedule, the last attempt at 24 h, then failed', async (t) => {
  t.same([1, 2, 3, 4, 5, 6, 7, 8].map((n) => nextAttempt(n, 0, 0)), [5000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 36_000_000, 36_000_000])
  t.equal(nextAttempt(7, 20 * 3_600_000, 0), CALLBACK_WINDOW_MS, 'never past 24 h from settling')
  t.equal(nextAttempt(8, CALLBACK_WINDOW_MS, 0), undefined)
  // Every due time below is a whole number of 5 s after settling. Stepped through 24 h, the
  // event loop looks busy to the sender, which then claims only on every tenth poll; a poll
  // every 500 ms puts those on each 5 s, and is 172,800 polls, not the default 100 ms's 864,000.
  const { clock, store, d, attempts } = await rig(t, () => 503, { pollMs: 500 })
  const at0 = clock.now()
  for (let n = 1; n <= 8; n++) {
    await until(() => attempts.length, (k) => k === n, { what: `attempt ${n}` })
    if (n < 8) await clock.advance(attempts[n - 1]!.nextAttemptAt! - clock.now())
  }
  t.same(attempts.map((a) => (a.lastAttemptAt! - at0) / 1000), [0, 5, 305, 2105, 9305, 27305, 63305, 86340], 'seconds after settling: the last a minute short of 24 h, while the update is still kept')
  t.match(await store.get(d.id), { state: 'failed', attempts: 8, lastError: /given up 24 h after the update settled/ })
  t.same(await store.backlog(), { count: 0 })
})

t.test('a redirect is not followed; a large answer is not read to its end', async (t) => {
  const { receiver, store, d, attempts } = await rig(t, (n, _req, res) => {
    if (n === 0) {
      res.writeHead(307, { location: 'http://127.0.0.1:1/elsewhere' }).end()
      return 307
    }
    res.writeHead(200).end('x'.repeat(5_000_000))
    return 200
  }, { start: Date.now() })
  await until(() => attempts.length, (n) => n === 1)
  t.match(await store.get(d.id), { state: 'pending', lastStatus: 307, lastError: 'answered 307; redirects are not followed' })
  t.equal(receiver.received.length, 1)
})

t.test('send-time address check: a name that resolved publicly at start-up and resolves privately now is not called', async (t) => {
  let address = '93.184.215.14'
  const lookup: Lookup = async () => [{ address, family: 4 }]
  t.equal(await urlProblem('https://hooks.example.com/x', false, lookup), undefined, 'public at start-up')
  address = '127.0.0.1'
  t.match(await urlProblem('https://hooks.example.com/x', false, lookup), /resolves to 127.0.0.1/)
  const { receiver, store, d, attempts } = await rig(t, () => 204, { lookup, url: 'http://hooks.example.com:1/x', allowPrivate: false, start: Date.now() })
  await until(() => attempts.length, (n) => n === 1)
  t.match(await store.get(d.id), { state: 'pending', lastStatus: 0, lastError: /resolves to 127\.0\.0\.1, a loopback, link-local or private address/ })
  t.equal(receiver.received.length, 0)
})

t.test('a literal private address is refused at send time too (no lookup happens for it)', async (t) => {
  const { store, d, attempts } = await rig(t, () => 204, { allowPrivate: false, start: Date.now() })
  await until(() => attempts.length, (n) => n === 1)
  t.match(await store.get(d.id), { state: 'pending', lastStatus: 0, lastError: /127\.0\.0\.1 is a loopback/ })
})

t.test('which addresses are private', async (t) => {
  for (const a of ['127.0.0.1', '10.1.2.3', '172.16.0.1', '172.31.255.255', '192.168.1.1', '169.254.169.254', '0.0.0.0', '100.64.0.1', '::1', 'fe80::1', 'fd00::1', '::ffff:127.0.0.1', '::ffff:10.0.0.1', '::']) {
    t.ok(isPrivateAddress(a), `${a} is refused`)
  }
  for (const a of ['93.184.215.14', '172.32.0.1', '8.8.8.8', '2606:4700:4700::1111']) t.notOk(isPrivateAddress(a), `${a} is public`)
  t.match(await urlProblem('https://[::1]:8443/x', false), /::1 is a loopback/)
  t.match(await urlProblem('https://localhost/x', false), /localhost resolves to/)
  t.equal(await urlProblem('https://localhost/x', true), undefined, 'CALLBACK_ALLOW_PRIVATE lifts it')
})
