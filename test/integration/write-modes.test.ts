import t from 'tap'
import { id, startStack, type Teardown } from '../helpers/stack.ts'

// 20 updates at once, each a different key, on a participant that already holds one.
async function run (t: Teardown, mode: 'merge' | 'patch', semantics: 'merge' | 'replace') {
  const { sim, post } = await startStack(t, { sim: { semantics, writeMs: 20 }, env: { GENESYS_WRITE_MODE: mode } })
  const c = id()
  const p = id()
  sim.seed({ id: c, participants: [{ id: p, purpose: 'customer', attributes: { kept: 'yes' } }] })
  const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => post(`/participants/${c}/${p}/data`, { attributes: { [`k${i}`]: 'v' } })))
  return { sim, answers, stored: sim.attributes(c, p)! }
}

const everything = ['kept', ...Array.from({ length: 20 }, (_, i) => `k${i}`)].sort()

t.test('merge mode keeps every key whether Genesys merges or replaces', async (t) => {
  for (const semantics of ['merge', 'replace'] as const) {
    const { sim, answers, stored } = await run(t, 'merge', semantics)
    t.ok(answers.every((a) => a.status === 200), `${semantics}: all 200`)
    t.same(Object.keys(stored).sort(), everything, `${semantics}: every key, and the one nobody mentioned`)
    t.ok(sim.stats.reads >= sim.stats.writes, `${semantics}: a read for each write`)
    t.same(Object.keys(answers.at(-1)!.body.attributes).sort(), everything, 'the answer is the full map')
  }
})

t.test('patch mode sends only the changes: one request per write, right when Genesys merges', async (t) => {
  const { sim, answers, stored } = await run(t, 'patch', 'merge')
  t.ok(answers.every((a) => a.status === 200))
  t.same(Object.keys(stored).sort(), everything, 'every key kept')
  t.equal(sim.stats.reads, 0, 'no reads at all')
  t.equal(sim.stats.conflicts, 0)
  const last = answers.at(-1)!.body
  t.ok(last.updated.every((k: string) => last.attributes[k] === 'v'), 'the answer holds the keys written (by this write)')
  t.notOk('kept' in last.attributes, 'nothing was read, so the answer cannot show the rest')
})

t.test('patch mode where Genesys replaces the map loses keys: the README calls it unsafe', async (t) => {
  const { answers, stored } = await run(t, 'patch', 'replace')
  t.ok(answers.every((a) => a.status === 200), 'every caller was told 200...')
  t.ok(Object.keys(stored).length < everything.length, `...but only ${Object.keys(stored).length} of ${everything.length} keys survived`)
  t.notOk('kept' in stored, 'the key nobody mentioned is gone')
})

t.test('patch mode still reads when it must find the participant by purpose', async (t) => {
  const { sim, post } = await startStack(t, { env: { GENESYS_WRITE_MODE: 'patch' } })
  const c = id()
  const a = await post(`/conversations/${c}/data`, { attributes: { tier: 'gold' } })
  t.equal(a.status, 200)
  t.equal(sim.stats.reads, 1)
  t.same(sim.attributes(c, a.body.participantId), { tier: 'gold' })
})
