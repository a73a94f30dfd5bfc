// The CRMs of bench/flood.ts, in a process of their own: `node bench/flood-crm.ts URL MS KEY TIMEOUT_MS`
// floods the gateway with bulk writes, synchronous and `Prefer: respond-async`, for MS ms, and
// prints their answers counted by status and code, as JSON.
import { randomUUID } from 'node:crypto'
import autocannon from 'autocannon'
import { ASYNC_RATE, body, SYNC_RATE } from './flood.ts'

const [url, ms, key, timeoutMs] = process.argv.slice(2) as [string, string, string, string]

function crm (async: boolean, counts: Record<string, number>) {
  const conversations = Array.from({ length: 500 }, () => ({ c: randomUUID(), p: randomUUID() }))
  let n = 0
  return autocannon({
    url,
    // Enough connections for synchronous writes that wait up to their timeout for the budget.
    connections: async ? 10 : 100,
    duration: Number(ms) / 1000,
    overallRate: async ? ASYNC_RATE : SYNC_RATE,
    requests: [{
      method: 'POST',
      setupRequest: (req) => {
        const t = conversations[n % conversations.length]!
        const headers: Record<string, string> = { 'content-type': 'application/json', authorization: `Bearer ${key}`, 'x-request-timeout-ms': timeoutMs }
        if (async) headers.prefer = 'respond-async'
        return { ...req, path: `/participants/${t.c}/${t.p}/data`, headers, body: body(`c${n++}`) }
      },
      onResponse: (status, text) => {
        const label = status === 200 || status === 202 ? String(status) : `${status} ${(JSON.parse(text) as { code?: string }).code ?? ''}`
        counts[label] = (counts[label] ?? 0) + 1
      },
    }],
  })
}

const sync: Record<string, number> = {}
const async: Record<string, number> = {}
await Promise.all([crm(false, sync), crm(true, async)])
process.stdout.write(JSON.stringify({ sync, async }))
