import t from 'tap'
import { id, startStack } from '../helpers/stack.ts'

// The headline promise: many callers on one participant at once, nothing clobbered, no 409.
for (const semantics of ['replace', 'merge'] as const) {
  t.test(`100 concurrent writes to one participant, simulator in ${semantics} semantics`, async (t) => {
    const { sim, post } = await startStack(t, { sim: { semantics, writeMs: 20 } })
    const conversationId = id()
    const participantId = id()
    sim.seed({ id: conversationId, participants: [{ id: participantId, purpose: 'customer', attributes: { existing: 'kept' } }] })

    const answers = await Promise.all(
      Array.from({ length: 100 }, (_, i) => post(`/participants/${conversationId}/${participantId}/data`, { attributes: { [`key${i}`]: `value${i}` } }))
    )

    t.same(answers.map((a) => a.status), Array(100).fill(200), 'every caller answered 200')
    const final = sim.conversation(conversationId)!.participants[0]!.attributes
    t.equal(Object.keys(final).length, 101, 'all 100 keys plus the one already there')
    t.equal(final.existing, 'kept', 'the key nobody mentioned survived')
    const missing = Array.from({ length: 100 }, (_, i) => `key${i}`).filter((k, i) => final[k] !== `value${i}`)
    t.same(missing, [], 'every key landed with its value')
    t.equal(sim.stats.conflicts, 0, 'the simulator saw no overlapping write and sent no 409')
    t.ok(sim.stats.writes < 20, `far fewer than 100 writes (${sim.stats.writes})`)
    // A write that folded n callers is counted once by each of them, 1/n at a time.
    const writesSeenByCallers = answers.reduce((n, a) => n + 1 / a.body.coalesced, 0)
    t.equal(Math.round(writesSeenByCallers), sim.stats.writes, 'the coalesced counts add up to the writes the simulator received')
    answers.forEach((a, i) => {
      t.same(a.body.updated, [`key${i}`], `caller ${i} is told which keys it set`)
      t.equal(a.body.attributes[`key${i}`], `value${i}`, `caller ${i} sees its own key in the map`)
      t.equal(a.body.attributes.existing, 'kept')
    })
  })
}

t.test('writes to different conversations run in parallel', async (t) => {
  const { sim, post } = await startStack(t, { sim: { writeMs: 50 } })
  const answers = await Promise.all(Array.from({ length: 50 }, () => post(`/participants/${id()}/${id()}/data`, { attributes: { a: '1' } })))
  t.ok(answers.every((a) => a.status === 200), 'all answered 200')
  t.equal(sim.stats.writes, 50)
  t.ok(sim.stats.peakWritesInFlight > 1, `the simulator had ${sim.stats.peakWritesInFlight} writes in flight at once`)
})

t.test('after updates to 10,000 distinct conversations the queue holds nothing', async (t) => {
  const { sim, app, post } = await startStack(t)
  const total = 10_000
  let next = 0
  let ok = 0
  let peak = 0
  // 100 callers at a time, each taking the next conversation until all are done.
  await Promise.all(
    Array.from({ length: 100 }, async () => {
      while (next < total) {
        next++
        const a = await post(`/participants/${id()}/${id()}/data`, { attributes: { n: next } })
        if (a.status === 200) ok++
        peak = Math.max(peak, app.services.updates.size)
      }
    })
  )
  t.equal(ok, total, 'every update answered 200')
  t.equal(sim.stats.writes, total)
  t.ok(peak > 1, `the queue did hold work while it ran (peak ${peak} conversations)`)
  t.equal(app.services.updates.size, 0, 'no conversation entry is left behind')
})
