import t from 'tap'
import { Agent, request } from 'undici'
import { CATALOGUE } from '../../src/errors.ts'
import { id, startStack } from '../helpers/stack.ts'

// SOAK_UPDATES shortens (or lengthens) the run; CI runs the full 5,000.
const updates = Number(process.env.SOAK_UPDATES ?? 5000)
const conversations = 200
const concurrency = 100

t.test(`soak: ${updates} updates over ${conversations} conversations under injected faults`, async (t) => {
  const { sim, url } = await startStack(t, {
    // No 429s: Genesys sends one only when the token is over a limit, and the budget then does
    // what it says (a pause for every replica, and the limit lowered to what was allowed: see
    // burst.test.ts and test/updates/budget*.test.ts). At random, far below any limit, they
    // would throttle this run to its own pace at the last 429 rather than test its data.
    sim: { faults: { seed: 42, conflictRate: 0.1, serverErrorRate: 0.05, dropRate: 0.01 } },
    // A lost write holds its conversation this long; the default 10 s would only slow the run.
    // One conflict retry: a second injected 409 in a row (about one write in a hundred) is then a
    // final "not written", so such answers are there to check however fast the machine is; the
    // impatient callers' deadlines below produce them only when the run is slow enough.
    env: { GENESYS_TIMEOUT_MS: '2000', GENESYS_CONFLICT_RETRIES: '1' },
  })
  const targets = Array.from({ length: conversations }, () => ({ c: id(), p: id() }))
  const dispatcher = new Agent({ connections: concurrency })
  t.teardown(() => dispatcher.close())
  const answers: Array<{ status: number; code?: string }> = new Array(updates)
  let next = 0
  const worker = async () => {
    for (let i = next++; i < updates; i = next++) {
      const { c, p } = targets[i % conversations]!
      // Every tenth caller is an impatient flow: a retry's backoff or a lost write's wait may not fit its deadline, and
      // it may expire in the queue, so "not written" answers happen and are checked too.
      const res = await request(`${url}/participants/${c}/${p}/data`, {
        method: 'POST',
        dispatcher,
        headers: { 'content-type': 'application/json', ...(i % 10 === 0 && { 'x-request-timeout-ms': '1000' }) },
        body: JSON.stringify({ attributes: { [`u${i}`]: `v${i}` } }),
      })
      const body = (await res.body.json()) as { code?: string }
      answers[i] = { status: res.statusCode, code: body.code }
    }
  }
  const started = Date.now()
  await Promise.all(Array.from({ length: concurrency }, worker))

  const counts: Record<string, number> = {}
  for (const a of answers) counts[a.status === 200 ? '200' : `${a.status} ${a.code}`] = (counts[`${a.status === 200 ? '200' : `${a.status} ${a.code}`}`] ?? 0) + 1
  const s = sim.stats
  t.comment(`${updates} updates in ${Date.now() - started} ms: ${JSON.stringify(counts)}`)
  t.comment(`simulator: ${s.reads} reads, ${s.writes} writes, injected ${JSON.stringify(s.injected)}`)

  const stored = (i: number) => sim.attributes(targets[i % conversations]!.c, targets[i % conversations]!.p)?.[`u${i}`]
  const lost = answers.flatMap((a, i) => (a.status === 200 && stored(i) !== `v${i}` ? [i] : []))
  t.same(lost, [], 'every update answered 200 is in the final state')
  const phantom = answers.flatMap((a, i) => (a.status !== 200 && a.code !== 'UPSTREAM_OUTCOME_UNKNOWN' && stored(i) !== undefined ? [i] : []))
  t.same(phantom, [], 'every update answered "not written" is absent from it')
  t.ok(answers.some((a) => a.status !== 200 && a.code !== 'UPSTREAM_OUTCOME_UNKNOWN'), 'and there were such answers to check')
  t.ok(answers.every((a) => a.status === 200 || (a.code !== undefined && a.code in CATALOGUE && a.code !== 'INTERNAL_ERROR')), 'every failure has a catalogue code, none is a 500')
  t.ok(counts['200']! > updates * 0.85, 'the great majority got through the faults')
  t.equal(s.conflicts, 0, 'no 409 of our own making: never two writes to one conversation at once')
  t.ok(s.injected.conflicts > 0 && s.injected.serverErrors > 0 && s.injected.dropsAfterWrite > 0, 'the faults did happen')
})
