// `npm run bench [-- --quick]`: this service against a plain forwarder and the read-merge-write
// that tutorials teach, in one run on this machine, against the Genesys simulator.
// Every system runs in a process of its own; autocannon drives them from this one.
import { randomUUID } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import autocannon from 'autocannon'
import { simulator, start, stop } from './processes.js'

const quick = process.argv.includes('--quick')
const seconds = quick ? 1 : 10
const hotUpdates = quick ? 50 : 200

interface System {
  name: string
  command: string[]
  env: (sim: string) => Record<string, string>
}

const ts = (file: string) => [process.execPath, '--import', '@tapjs/typescript/import', file]
const service = (mode: 'merge' | 'patch'): System => ({
  name: `this service, ${mode}`,
  command: [process.execPath, 'dist/server.js'],
  env: (sim) => ({
    GENESYS_API_URL: sim,
    GENESYS_LOGIN_URL: sim,
    GENESYS_CLIENT_ID: 'sandbox',
    GENESYS_CLIENT_SECRET: 'sandbox',
    GENESYS_WRITE_MODE: mode,
    // The simulator has no budget; Genesys's 300 a minute would make this a test of waiting.
    GENESYS_RATE_LIMIT_PER_MINUTE: '1000000',
    LOG_LEVEL: 'info',
  }),
})
const SYSTEMS: System[] = [
  { name: 'raw forward', command: ts('bench/systems/raw.ts'), env: (sim) => ({ SIM_URL: sim }) },
  { name: 'naive read-merge-write', command: ts('bench/systems/naive.ts'), env: (sim) => ({ SIM_URL: sim }) },
  service('merge'),
  service('patch'),
]

interface Target {
  c: string
  p: string
}
type Sent = Target & { key: string }
interface Scenario {
  name: string
  connections: number
  /** A fixed number of requests, or else a duration. */
  amount?: number
  pick: () => Target
}

const pairs = (n: number) => Array.from({ length: n }, () => ({ c: randomUUID(), p: randomUUID() }))
function scenarios(): Scenario[] {
  const spread = pairs(1000)
  const hot = pairs(1)[0]!
  const any = () => spread[Math.floor(Math.random() * spread.length)]!
  return [
    { name: 'spread: 1,000 conversations, 50 connections', connections: 50, pick: any },
    { name: `hot: ${hotUpdates} concurrent updates to one participant`, connections: hotUpdates, amount: hotUpdates, pick: () => hot },
    { name: 'mixed: 80% spread, 20% one hot participant, 50 connections', connections: 50, pick: () => (Math.random() < 0.2 ? hot : any()) },
  ]
}

interface Row {
  system: string
  rps: number
  p50: number
  p99: number
  upstreamPerUpdate: number
  conflicts: number
  lost: number
  accepted: number
}

async function stats(sim: string) {
  return (await (await fetch(`${sim}/__sim/stats`)).json()) as { reads: number; writes: number; conflicts: number }
}

async function measure(system: System, scenario: Scenario, writeMs: number): Promise<Row> {
  const sim = await simulator(writeMs)
  const sut = await start(system.command, system.env(sim.url), '/healthz')
  try {
    const sent: Array<Sent & { status: number }> = []
    let n = 0
    const result = await autocannon({
      url: sut.url,
      connections: scenario.connections,
      ...(scenario.amount ? { amount: scenario.amount } : { duration: seconds }),
      requests: [
        {
          method: 'POST',
          setupRequest: (req, context) => {
            const target = scenario.pick()
            const key = `k${n++}`
            ;(context as { sent?: Sent }).sent = { ...target, key }
            return { ...req, path: `/participants/${target.c}/${target.p}/data`, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ attributes: { [key]: 'v' } }) }
          },
          onResponse: (status, _body, context) => {
            sent.push({ ...(context as { sent: Sent }).sent, status })
          },
        },
      ],
    })
    const s = await stats(sim.url)
    const accepted = sent.filter((x) => x.status === 200)
    // Lost: answered 200, yet not in the simulator's final state.
    const state = new Map<string, Record<string, Record<string, string>>>()
    for (const c of new Set(accepted.map((x) => x.c))) {
      const conv = (await (await fetch(`${sim.url}/__sim/conversations/${c}`)).json()) as { participants?: Array<{ id: string; attributes: Record<string, string> }> }
      state.set(c, Object.fromEntries((conv.participants ?? []).map((p) => [p.id, p.attributes])))
    }
    const lost = accepted.filter((x) => state.get(x.c)?.[x.p]?.[x.key] !== 'v').length
    return {
      system: system.name,
      rps: result.requests.average,
      p50: result.latency.p50,
      p99: result.latency.p99,
      upstreamPerUpdate: (s.reads + s.writes + s.conflicts) / Math.max(accepted.length, 1),
      conflicts: s.conflicts,
      lost,
      accepted: accepted.length,
    }
  } finally {
    await stop(sut.child)
    await stop(sim.child)
  }
}

function table(rows: Row[]): string {
  const raw = rows[0]!
  const head = ['system', 'req/s', 'vs raw', 'p50 ms', 'p99 ms', 'upstream req per update', '409s upstream', 'accepted', 'lost']
  const body = rows.map((r) => [
    r.system,
    r.rps.toFixed(0),
    `${((r.rps / raw.rps) * 100).toFixed(0)}%`,
    r.p50.toFixed(0),
    r.p99.toFixed(0),
    r.upstreamPerUpdate.toFixed(2),
    String(r.conflicts),
    String(r.accepted),
    String(r.lost),
  ])
  return [head, head.map(() => '---'), ...body].map((cells) => `| ${cells.join(' | ')} |`).join('\n')
}

async function memory(): Promise<string> {
  const sim = await simulator()
  const sut = await start(service('merge').command, service('merge').env(sim.url), '/healthz')
  const rss = async () => {
    await sleep(2000)
    const text = await (await fetch(`${sut.url}/metrics`)).text()
    return Number(text.match(/^process_resident_memory_bytes (\d+)/m)![1]) / 2 ** 20
  }
  const load = (amount: number, conversations: ReturnType<typeof pairs>) =>
    autocannon({
      url: sut.url,
      connections: 50,
      amount,
      requests: [
        {
          method: 'POST',
          setupRequest: (req) => {
            const t = conversations[Math.floor(Math.random() * conversations.length)]!
            return { ...req, path: `/participants/${t.c}/${t.p}/data`, headers: { 'content-type': 'application/json' }, body: '{"attributes":{"k":"v"}}' }
          },
        },
      ],
    })
  try {
    const conversations = pairs(10_000)
    await load(20_000, conversations)
    const steady = await rss()
    await load(100_000, pairs(10_000))
    const after = await rss()
    const change = ((after - steady) / steady) * 100
    return `resident memory: ${steady.toFixed(1)} MiB steady (after 20,000 requests), ${after.toFixed(1)} MiB after 100,000 more over 10,000 new conversations (${change >= 0 ? '+' : ''}${change.toFixed(1)}%; target: within 10%)`
  } finally {
    await stop(sut.child)
    await stop(sim.child)
  }
}

console.log(`# Benchmark ${quick ? '(quick: numbers are for smoke only) ' : ''}${new Date().toISOString()}`)
console.log(`node ${process.version}, ${(await import('node:os')).cpus().length} cores; each system in its own process; ${seconds} s per timed run\n`)
for (const writeMs of quick ? [0] : [0, 20]) {
  for (const scenario of scenarios()) {
    const rows: Row[] = []
    for (const system of SYSTEMS) rows.push(await measure(system, scenario, writeMs))
    console.log(`## ${scenario.name}; simulator write time ${writeMs} ms\n\n${table(rows)}\n`)
  }
}
if (!quick) console.log(await memory())
