// Flows first under a flood: Architect flows (a `live` API key) writing to their own calls while
// CRMs (a `bulk` key) flood writes, synchronous and `Prefer: respond-async`, at several times the
// Genesys budget that the simulator enforces. The flows' latency beside the same flows on the
// idle gateway, in the same run, and what became of the bulk writes.
import { randomUUID } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { request } from 'undici'
import { metric, root, SERVICE_NODE_FLAGS, serviceEnv, simulator, start, stop } from './processes.ts'

export interface FloodOptions {
  /** How long the flows run alone, then again under the flood. */
  phaseMs: number
}

/** Genesys requests per minute: GENESYS_RATE_LIMIT_PER_MINUTE and the simulator's SIM_RATE_LIMIT_PER_MINUTE. */
const BUDGET = 6000
const FLOWS = 6
/** Each flow writes once a second: 6 writes, 12 Genesys requests (merge mode) a second, well inside live's share. */
const FLOW_EVERY_MS = 1000
const FLOW_KEY = 'flow-key-0123456789abcdef0123'
const CRM_KEY = 'crm-key-0123456789abcdef01234'
/** A CRM that will wait 2 s for an answer, as a synchronous sync job might. */
const CRM_TIMEOUT_MS = '2000'

/**
 * The CRMs' load (bench/flood-crm.ts), writes a second: 250 in all, five times the 50 writes a
 * second the budget carries in merge mode. Capped, so that what is measured is the budget's order
 * and not how many refusals two shared cores can answer a second.
 */
export const SYNC_RATE = 150
export const ASYNC_RATE = 100

export const body = (key: string) => JSON.stringify({ attributes: { [key]: 'v' } })

interface FlowResult { ms: number[]; statuses: Map<string, number> }

/** Each flow writes to its own call, one write at a time, on a fixed beat; latency as the flow waits it. */
async function flows (url: string, ms: number): Promise<FlowResult> {
  const result: FlowResult = { ms: [], statuses: new Map() }
  const end = performance.now() + ms
  await Promise.all(Array.from({ length: FLOWS }, async (_, f) => {
    const c = randomUUID()
    const p = randomUUID()
    // Staggered, so the flows do not all arrive in the same millisecond.
    await sleep((FLOW_EVERY_MS / FLOWS) * f)
    for (let i = 0; performance.now() < end; i++) {
      const due = performance.now() + FLOW_EVERY_MS
      const t0 = performance.now()
      const res = await request(`${url}/participants/${c}/${p}/data`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${FLOW_KEY}` },
        body: body(`f${i}`),
      })
      const text = await res.body.text()
      result.ms.push(performance.now() - t0)
      const label = res.statusCode === 200 ? '200' : `${res.statusCode} ${(JSON.parse(text) as { code: string }).code}`
      result.statuses.set(label, (result.statuses.get(label) ?? 0) + 1)
      await sleep(Math.max(0, due - performance.now()))
    }
  }))
  return result
}

/**
 * The CRMs, in a process of their own: autocannon in this one would slow the flows' own timing,
 * and the flows' latency is what is measured. Their answers, counted by status and code.
 */
async function crms (url: string, ms: number): Promise<{ sync: Map<string, number>; async: Map<string, number> }> {
  const child = spawn(process.execPath, ['bench/flood-crm.ts', url, String(ms), CRM_KEY, CRM_TIMEOUT_MS], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] })
  let out = ''
  child.stdout.on('data', (d) => (out += d))
  await once(child, 'exit')
  const counts = JSON.parse(out) as { sync: Record<string, number>; async: Record<string, number> }
  return { sync: new Map(Object.entries(counts.sync)), async: new Map(Object.entries(counts.async)) }
}

const quantile = (values: number[], q: number) => {
  const v = [...values].sort((a, b) => a - b)
  return v[Math.min(v.length - 1, Math.ceil(q * v.length) - 1)] ?? NaN
}
const list = (m: Map<string, number>) => [...m].sort((a, b) => b[1] - a[1]).map(([label, count]) => `${count} × ${label}`).join(', ')

/** The scenario's report: a table of the flows idle and flooded, and a line on the bulk writes. */
export async function flood (o: FloodOptions): Promise<string> {
  // 15 ms per Genesys request, as a nearby region answers: a flow write is a read and a PATCH.
  const sim = await simulator(0, { SIM_RATE_LIMIT_PER_MINUTE: String(BUDGET), SIM_LATENCY_MS: '15-15' })
  const env = {
    ...serviceEnv(sim.url, 'merge'),
    GENESYS_RATE_LIMIT_PER_MINUTE: String(BUDGET),
    API_KEYS: `flow:${FLOW_KEY}:live,crm:${CRM_KEY}:bulk`,
    LOG_LEVEL: 'warn',
  }
  const sut = await start([process.execPath, ...SERVICE_NODE_FLAGS, 'dist/server.js'], env, '/healthz')
  try {
    // Not counted: the first writes fetch the token and warm the JIT, on the idle run's account only.
    await flows(sut.url, 1000)
    const idle = await flows(sut.url, o.phaseMs)
    const s0 = (await (await fetch(`${sim.url}/__sim/stats`)).json()) as { reads: number; writes: number; rateLimited: number }
    const [flooded, { sync, async }] = await Promise.all([flows(sut.url, o.phaseMs), crms(sut.url, o.phaseMs)])
    const s1 = (await (await fetch(`${sim.url}/__sim/stats`)).json()) as { reads: number; writes: number; rateLimited: number }
    const [written, failed] = await Promise.all(['pdg_async_written_total', 'pdg_async_failed_total'].map((m) => metric(sut.url, m)))
    const metrics = await (await fetch(`${sut.url}/metrics`)).text()
    const live = (name: string) => Number(metrics.match(new RegExp(`^${name}\\{priority="live"\\} (\\S+)$`, 'm'))?.[1] ?? 0)
    const upstream = s1.reads + s1.writes - s0.reads - s0.writes
    const offered = [...sync.values(), ...async.values()].reduce((a, b) => a + b, 0)
    const row = (name: string, r: FlowResult) =>
      `| ${name} | ${r.ms.length} | ${quantile(r.ms, 0.5).toFixed(1)} | ${quantile(r.ms, 0.99).toFixed(1)} | ${list(r.statuses)} |`
    const p99Ratio = quantile(flooded.ms, 0.99) / quantile(idle.ms, 0.99)
    const refused = [...flooded.statuses].filter(([label]) => label !== '200').reduce((a, [, n]) => a + n, 0)
    return [
      `${FLOWS} flows (live key), each writing to its own call once a second, merge mode; Genesys budget ${BUDGET.toLocaleString('en')} requests a minute ` +
        `(the simulator's, and GENESYS_RATE_LIMIT_PER_MINUTE), 15 ms per Genesys request; ${o.phaseMs / 1000} s idle, then ${o.phaseMs / 1000} s under the flood.`,
      '',
      '| flows | writes | p50 ms | p99 ms | answers |',
      '| --- | --- | --- | --- | --- |',
      row('idle gateway', idle),
      row('under the CRM flood', flooded),
      '',
      `- flows' p99 under the flood: ${p99Ratio.toFixed(2)}x idle (target: 1.5x or less); flows refused: ${refused} (target: 0); ` +
        `flows' Genesys requests that waited for the budget: ${live('pdg_rate_budget_waits_total')}, refused by it: ${live('pdg_rate_budget_refusals_total')}`,
      `- CRM flood (bulk key), ${offered.toLocaleString('en')} writes in ${o.phaseMs / 1000} s, ` +
        `${((offered * 2) / (o.phaseMs / 1000) / (BUDGET / 60)).toFixed(1)}x the budget's requests had each been written (a read and a PATCH each):`,
      `  - synchronous (${SYNC_RATE} a second, X-Request-Timeout-Ms ${CRM_TIMEOUT_MS}): ${list(sync)}`,
      `  - Prefer: respond-async (${ASYNC_RATE} a second): ${list(async)}; by the flood's end ${written} delivered (flows' writes are not async), ${failed} failed, the rest still queued`,
      `- Genesys requests during the flood: ${upstream} (the gateway's budget lets ${BUDGET.toLocaleString('en')} into any minute, a burst of it at once after a quiet spell), 429s from the simulator: ${s1.rateLimited - s0.rateLimited}`,
    ].join('\n')
  } finally {
    await stop(sut.child)
    await stop(sim.child)
  }
}
