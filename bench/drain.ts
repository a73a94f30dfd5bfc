// The backlog drain: how long this service takes to deliver a burst of accepted asynchronous
// updates through a Genesys budget, and how many upstream requests each update cost.
import { randomUUID } from 'node:crypto'
import autocannon from 'autocannon'
import { drained, metric, redisServer, serviceEnv, SERVICE_NODE_FLAGS, simulator, start, stop, update } from './processes.ts'

export interface DrainOptions {
  updates: number
  conversations: number
  /** GENESYS_RATE_LIMIT_PER_MINUTE, and the simulator's per-token budget too, so overshooting shows as 429s. */
  budget: number
  /** Deliveries through a private redis-server (its due list), else the in-memory store. */
  redis: boolean
  /** Give up waiting for the backlog after this long. */
  timeoutMs: number
  /** Another build of this service (--before's), and how to name it in the line. */
  dist?: string
  label?: string
}

interface SimCounts { tokenRequests: number; reads: number; writes: number; conflicts: number; rateLimited: number }

const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`

/** One line: what was accepted, when the backlog was empty, and what reached the simulator. */
export async function drain (o: DrainOptions): Promise<string> {
  const store = o.redis ? await redisServer() : undefined
  if (o.redis && store === undefined) return 'Redis: skipped (redis-server is not installed)'
  const sim = await simulator(0, { SIM_RATE_LIMIT_PER_MINUTE: String(o.budget) })
  const env = { ...serviceEnv(sim.url, 'patch'), GENESYS_RATE_LIMIT_PER_MINUTE: String(o.budget), ...(store && { REDIS_URL: store.url }) }
  const sut = await start([process.execPath, ...SERVICE_NODE_FLAGS, `${o.dist ?? 'dist'}/server.js`], env, '/healthz')
  try {
    // Round robin: each conversation (one participant each) gets updates / conversations of them, each its own key.
    const targets = Array.from({ length: o.conversations }, () => ({ c: randomUUID(), p: randomUUID() }))
    const ids: string[] = []
    const statuses = new Map<number, number>()
    let n = 0
    const t0 = performance.now()
    await autocannon({
      url: sut.url,
      connections: 50,
      amount: o.updates,
      requests: [{
        method: 'POST',
        setupRequest: (req, context) => {
          const i = n++
          ;(context as { i?: number }).i = i
          return update(req, targets[i % o.conversations]!, `k${i}`, true)
        },
        onResponse: (status, body, context) => {
          statuses.set(status, (statuses.get(status) ?? 0) + 1)
          if (status === 202) ids[(context as { i: number }).i] = (JSON.parse(body) as { id: string }).id
        },
      }],
    })
    const accepted = performance.now() - t0
    const empty = await drained(sut.url, o.timeoutMs)
    const done = performance.now() - t0
    const last = ids.findLast((id) => id !== undefined)
    const lastState = last === undefined ? '-' : ((await (await fetch(`${sut.url}/updates/${last}`)).json()) as { state: string }).state
    const [written, failed, retried] = await Promise.all(['pdg_async_written_total', 'pdg_async_failed_total', 'pdg_async_retries_total'].map((m) => metric(sut.url, m)))
    const sim1 = (await (await fetch(`${sim.url}/__sim/stats`)).json()) as SimCounts
    let lost = 0
    for (const [j, t] of targets.entries()) {
      const conv = (await (await fetch(`${sim.url}/__sim/conversations/${t.c}`)).json()) as { participants?: Array<{ id: string; attributes: Record<string, string> }> }
      const attributes = conv.participants?.find((p) => p.id === t.p)?.attributes ?? {}
      for (let i = j; i < o.updates; i += o.conversations) if (ids[i] !== undefined && attributes[`k${i}`] !== 'v') lost++
    }
    const api = sim1.reads + sim1.writes + sim1.conflicts + sim1.rateLimited
    const answered = [...statuses].map(([status, count]) => `${count} × ${status}`).join(', ')
    return (
      `${o.label ?? ''}${o.redis ? 'Redis (durable)' : 'in memory (not durable)'}: ${o.updates.toLocaleString('en')} updates over ${o.conversations.toLocaleString('en')} conversations ` +
      `at ${o.budget.toLocaleString('en')} requests per minute: answered ${answered} in ${s(accepted)}; ` +
      (empty ? `backlog empty ${s(done)} after the first was sent (${s(done - accepted)} after the last was answered)` : `backlog NOT empty after ${s(o.timeoutMs)}`) +
      `; written ${written}, failed ${failed}, attempts retried ${retried}; the last accepted: ${lastState}; ` +
      `upstream ${api} requests (${sim1.writes} writes, ${sim1.reads} reads, ${sim1.conflicts} 409s, ${sim1.rateLimited} 429s; ${sim1.tokenRequests} token requests besides), ` +
      `${(api / Math.max(ids.filter(Boolean).length, 1)).toFixed(3)} per update; lost ${lost}`
    )
  } finally {
    await stop(sut.child)
    await stop(sim.child)
    if (store) await stop(store.child)
  }
}
