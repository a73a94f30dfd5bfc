// A Genesys that shows writes late (issue 32): flows each making calls in a row, a new key per
// call, on participants of their own, against a simulator whose reads lag its writes and whose
// PATCH replaces the map (or merges per key). What matters is not speed but what was lost: values
// the service answered 200 for that are not in "Genesys" afterwards.
import { randomUUID } from 'node:crypto'
import { request } from 'undici'
import { quantile, type BurstSystem } from './burst.ts'
import { SERVICE_NODE_FLAGS, serviceEnv, simulator, start, stop } from './processes.ts'

interface Outcome {
  acknowledged: number
  lost: number
  p99: number
}

async function once (system: BurstSystem, flows: number, calls: number, lagMs: number, semantics: 'merge' | 'replace'): Promise<Outcome> {
  const sim = await simulator(0, { SIM_READ_LAG_MS: String(lagMs), SIM_SEMANTICS: semantics })
  const sut = await start([process.execPath, ...(system.flags ?? SERVICE_NODE_FLAGS), system.script], { ...serviceEnv(sim.url, 'merge'), LOG_LEVEL: 'warn' }, '/healthz')
  try {
    const ms: number[] = []
    const acknowledged: Array<{ c: string; p: string; key: string }> = []
    await Promise.all(Array.from({ length: flows }, async () => {
      const [c, p] = [randomUUID(), randomUUID()]
      for (let i = 0; i < calls; i++) {
        const t0 = performance.now()
        const res = await request(`${sut.url}/participants/${c}/${p}/data`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ attributes: { [`k${i}`]: 'v' } }),
        })
        await res.body.dump()
        ms.push(performance.now() - t0)
        if (res.statusCode === 200) acknowledged.push({ c, p, key: `k${i}` })
      }
    }))
    let lost = 0
    for (const { c, p, key } of acknowledged) {
      const conversation = (await (await fetch(`${sim.url}/__sim/conversations/${c}`)).json()) as { participants: Array<{ id: string; attributes: Record<string, string> }> }
      if (conversation.participants.find((x) => x.id === p)?.attributes[key] !== 'v') lost++
    }
    return { acknowledged: acknowledged.length, lost, p99: quantile(ms, 0.99) }
  } finally {
    await stop(sut.child)
    await stop(sim.child)
  }
}

/** Each system, each lag and semantics, side by side. */
export async function lagged (systems: BurstSystem[], flows: number, calls: number): Promise<string> {
  const rows: string[][] = []
  for (const [lagMs, semantics] of [[400, 'replace'], [100, 'replace'], [400, 'merge']] as const) {
    for (const system of systems) {
      const r = await once(system, flows, calls, lagMs, semantics)
      rows.push([system.name, `${lagMs} ms`, semantics, String(flows * calls), String(r.acknowledged), String(r.lost), r.p99.toFixed(0)])
    }
  }
  const head = ['system', 'read lag', 'Genesys PATCH', 'values sent', 'answered 200', 'lost after a 200', 'p99 ms']
  return [head, head.map(() => '---'), ...rows].map((cells) => `| ${cells.join(' | ')} |`).join('\n')
}
