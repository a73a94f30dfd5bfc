import type { Registry } from 'prom-client'

export interface OpsView {
  /** Updates waiting for an answer, and the conversations they belong to. */
  queue: { updates: number; conversations: number }
  /** Upstream requests that had to wait for the rate budget, or were refused for want of it. */
  budget: { waits: number; refusals: number }
  /** Error answers since start, by catalogue code, most frequent first. */
  errors: Array<{ code: string; count: number }>
}

type Values = Array<{ value: number; labels: Record<string, string | number | undefined> }>

/** The console's operations view, read from the registry /metrics exposes: no counters of its own. */
export async function opsView (registry: Registry): Promise<OpsView> {
  // Only the metrics shown: collecting all of them (process, GC) would cost more than the page.
  const names = ['pdg_queue_updates', 'pdg_queue_conversations', 'pdg_rate_budget_waits_total', 'pdg_rate_budget_refusals_total', 'pdg_http_requests_total']
  const read = await Promise.all(names.map(async (n) => [n, ((await registry.getSingleMetric(n)?.get())?.values ?? []) as Values] as const))
  const got = new Map(read)
  const sum = (name: string) => (got.get(name) ?? []).reduce((n, v) => n + v.value, 0)
  const errors = new Map<string, number>()
  for (const v of got.get('pdg_http_requests_total') ?? []) {
    const code = String(v.labels.code ?? '')
    if (code !== '') errors.set(code, (errors.get(code) ?? 0) + v.value)
  }
  return {
    queue: { updates: sum('pdg_queue_updates'), conversations: sum('pdg_queue_conversations') },
    budget: { waits: sum('pdg_rate_budget_waits_total'), refusals: sum('pdg_rate_budget_refusals_total') },
    errors: [...errors].map(([code, count]) => ({ code, count })).sort((a, b) => b.count - a.count),
  }
}
