// Bursts at the limit (issue 28): N flow writes to different conversations, all sent at once,
// from an idle start (a fresh simulator and service for each burst), against the simulator's
// per-token budget of 300 in any 60 s, with the service at its defaults (300 a minute, merge
// mode) and each flow allowing 5 s (a Data Action with a 6 s timeout). Beside each row, the
// physical limit: what the window allows a burst, N / requests per write. Where Genesys allows less
// than the service is told, a second burst follows the first once its 429 pause and the window
// have passed: the first cannot know the limit (Genesys says it only with a 429), the second can.
import { randomUUID } from 'node:crypto'
import { request } from 'undici'
import { SERVICE_NODE_FLAGS, serviceEnv, simulator, start, stop } from './processes.ts'

export interface BurstSystem {
  name: string
  /** The service's entry point (dist/server.js, or an older build's). */
  script: string
  flags?: string[]
}

interface Outcome {
  burst: number
  written: number
  codes: Map<string, number>
  p99: number
  upstream: number
  rateLimited: number
}

export const quantile = (values: number[], q: number) => {
  const v = [...values].sort((a, b) => a - b)
  return v[Math.min(v.length - 1, Math.floor(q * v.length))] ?? 0
}

/** One burst of `burst` flows at `url`, each allowing 5 s; the simulator's counts are what this burst added. */
async function fire (url: string, sim: string, burst: number): Promise<Outcome> {
  const stats = async () => (await (await fetch(`${sim}/__sim/stats`)).json()) as { reads: number; writes: number; conflicts: number; rateLimited: number }
  const s0 = await stats()
  const ms: number[] = []
  const codes = new Map<string, number>()
  await Promise.all(Array.from({ length: burst }, async (_, i) => {
    const t0 = performance.now()
    const res = await request(`${url}/participants/${randomUUID()}/${randomUUID()}/data`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-request-timeout-ms': '5000' },
      body: JSON.stringify({ attributes: { [`k${i}`]: 'v' } }),
    })
    const text = await res.body.text()
    ms.push(performance.now() - t0)
    const label = res.statusCode === 200 ? '200' : `${(JSON.parse(text) as { code: string }).code}`
    codes.set(label, (codes.get(label) ?? 0) + 1)
  }))
  const s = await stats()
  const upstream = s.reads + s.writes + s.conflicts + s.rateLimited - (s0.reads + s0.writes + s0.conflicts + s0.rateLimited)
  return { burst, written: codes.get('200') ?? 0, codes, p99: quantile(ms, 0.99), upstream, rateLimited: s.rateLimited - s0.rateLimited }
}

/**
 * Until the service has asked the simulator for the org's limit (this service does at start-up;
 * one that does not goes on after 5 s), and a moment more for the answer to be applied.
 */
async function limitRead (sim: string): Promise<void> {
  for (const end = Date.now() + 5000; Date.now() < end; await new Promise((resolve) => setTimeout(resolve, 50))) {
    if (((await (await fetch(`${sim}/__sim/stats`)).json()) as { limitReads: number }).limitReads > 0) break
  }
  await new Promise((resolve) => setTimeout(resolve, 200))
}

/**
 * A fresh simulator and service; then `rounds` bursts, the second (when asked for) once a 429's
 * pause and the window have passed since the first (65 s: the simulator's Retry-After is at most
 * the window, and the service counts each request 61 s).
 */
async function once (system: BurstSystem, burst: number, genesysAllows: number, configured: number | undefined, rounds = 1, limitsApi: 'answer' | 'forbidden' = 'answer'): Promise<Outcome[]> {
  const sim = await simulator(0, { SIM_RATE_LIMIT_PER_MINUTE: String(genesysAllows), SIM_LIMITS_API: limitsApi })
  const env = { ...serviceEnv(sim.url, 'merge'), GENESYS_RATE_LIMIT_PER_MINUTE: configured === undefined ? '' : String(configured), LOG_LEVEL: 'warn' }
  const sut = await start([process.execPath, ...(system.flags ?? SERVICE_NODE_FLAGS), system.script], env, '/healthz')
  try {
    await limitRead(sim.url)
    const outcomes = [await fire(sut.url, sim.url, burst)]
    for (let r = 1; r < rounds; r++) {
      await new Promise((resolve) => setTimeout(resolve, 65_000))
      outcomes.push(await fire(sut.url, sim.url, burst))
    }
    return outcomes
  } finally {
    await stop(sut.child)
    await stop(sim.child)
  }
}

function table (rows: Array<Outcome & { system: string }>, physical: number): string {
  const head = ['system', 'burst', 'written', 'share written', 'physical limit', 'refused', 'p99 ms', 'upstream req per write', 'upstream 429s']
  const body = rows.map((r) => [
    r.system,
    String(r.burst),
    String(r.written),
    `${((r.written / r.burst) * 100).toFixed(0)}%`,
    `${Math.min(r.burst, physical)} (${((Math.min(r.burst, physical) / r.burst) * 100).toFixed(0)}%)`,
    [...r.codes].filter(([k]) => k !== '200').map(([k, n]) => `${n} ${k}`).join(', ') || '-',
    r.p99.toFixed(0),
    r.written === 0 ? `${r.upstream} for none` : (r.upstream / r.written).toFixed(2),
    String(r.rateLimited),
  ])
  return [head, head.map(() => '---'), ...body].map((cells) => `| ${cells.join(' | ')} |`).join('\n')
}

/** Both tables: Genesys allowing what the service is told, then allowing less (60 against 1,000). */
export async function bursts (systems: BurstSystem[], sizes = [10, 50, 100, 150]): Promise<string> {
  const at = []
  for (const size of sizes) for (const system of systems) at.push({ system: system.name, ...(await once(system, size, 300, 300))[0]! })
  const less = []
  for (const system of systems) {
    // Limit configured: the org's limit is not to be had (its Limits API refused), so only a 429 tells.
    const [first, second] = await once(system, 100, 60, 1000, 2, 'forbidden')
    less.push({ system: `${system.name}, limit configured (1,000), first burst`, ...first! }, { system: `${system.name}, limit configured (1,000), second burst (65 s later)`, ...second! })
    // Limit from the org: nothing configured, and the Limits API answers 60.
    less.push({ system: `${system.name}, limit from the org, first burst`, ...(await once(system, 100, 60, undefined))[0]! })
  }
  return [
    'Genesys allows 300 in any 60 s; the service is told 300 a minute. Physical limit: 300 / 2 requests per merge write = 150 writes.\n',
    table(at, 150),
    '\nGenesys allows 60 in any 60 s and sends no rate headers (as since 2021: only a 429 with Retry-After). "Limit configured": the service is told 1,000 (another application on the OAuth client, say) ' +
      'and the org\'s Limits API is refused, so only a 429 can tell it; the same service twice, the second burst once the first one\'s 429 pause and the window have passed. ' +
      '"Limit from the org": nothing configured, and the service reads 60 from the Limits API at start-up (issue 38). Physical limit: 60 / 2 = 30 writes (one unit of the window goes to reading the limit).\n',
    table(less, 30),
  ].join('\n')
}
