import type { Answer } from './stack.ts'

/** Most of `times` (ms) in any `windowMs`-long interval: what a sliding-window budget must bound. */
export function busiest (times: number[], windowMs: number): number {
  const sorted = [...times].sort((a, b) => a - b)
  let worst = 0
  for (let i = 0, j = 0; i < sorted.length; i++) {
    while (sorted[i]! - sorted[j]! >= windowMs) j++
    worst = Math.max(worst, i - j + 1)
  }
  return worst
}

/** Answers counted by outcome: `200`, or status and code (`503 RATE_BUDGET_EXHAUSTED`). */
export function tally (answers: Answer[]): Record<string, number> {
  const counts: Record<string, number> = {}
  for (const a of answers) {
    const k = a.status === 200 ? '200' : `${a.status} ${a.body?.code}`
    counts[k] = (counts[k] ?? 0) + 1
  }
  return counts
}
