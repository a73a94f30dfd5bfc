// The standalone simulator's environment (SIM_*), apart from main.ts so tests can read it. Each
// variable is only read here (its format); what values are allowed, and the defaults, are the
// options' own rules in options.ts, reported here under the variable's name.
import { z } from 'zod'
import { RATES, SANDBOX_READ_LAG_MS, simulatorOptions, type SimulatorOptions } from './options.ts'

const number = z.coerce.number().optional()

export const simEnv = z
  .object({
    SIM_PORT: z.coerce.number().int().min(0).max(65535).default(8787),
    SIM_HOST: z.string().default('127.0.0.1'),
    // pino level of the simulator's own request log; benchmarks turn it down.
    SIM_LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    SIM_CLIENT_ID: z.string().optional(),
    SIM_CLIENT_SECRET: z.string().optional(),
    SIM_SEMANTICS: z.string().optional(),
    SIM_WRITE_MS: number,
    // Reads show attributes as they stood this many ms ago (Genesys propagates writes late).
    SIM_READ_LAG_MS: z.coerce.number().default(SANDBOX_READ_LAG_MS),
    SIM_TOKEN_TTL_SECONDS: number,
    SIM_STRICT: z.enum(['0', '1']).transform((v) => v === '1').optional(),
    // Seed of the fault PRNG: the same seed and request order replay the same faults.
    SIM_SEED: number,
    // Fraction of PATCHes answered 409 conflict, not applied.
    SIM_FAULT_CONFLICT_RATE: number,
    // Fraction of GETs and PATCHes answered 429 with Retry-After: 1, not applied.
    SIM_FAULT_RATE_LIMIT_RATE: number,
    // Fraction of token, GET and PATCH requests answered 500/502/503; half the PATCH ones after the write landed.
    SIM_FAULT_SERVER_ERROR_RATE: number,
    // Fraction of token, GET and PATCH requests whose connection is dropped unanswered; half the PATCH ones after the write landed.
    SIM_FAULT_DROP_RATE: number,
    // "min-max" in ms, e.g. "5-40": each token, GET and PATCH request waits uniformly within it.
    SIM_LATENCY_MS: z
      .string()
      .regex(/^\d+-\d+$/, 'expected "min-max" in milliseconds, e.g. "5-40"')
      .transform((s) => {
        const [min, max] = s.split('-').map(Number) as [number, number]
        return { min, max }
      })
      .optional(),
    // Requests per minute per token (GET and PATCH) before 429, like Genesys's 300; unset means no budget.
    SIM_RATE_LIMIT_PER_MINUTE: number,
    // answer (default) or forbidden: the Limits API refused 403, as some orgs' permissions do.
    SIM_LIMITS_API: z.string().optional(),
  })
  .superRefine((e, ctx) => {
    // Variables already refused for their format are left out, so each problem is told once.
    const refused = new Set(ctx.issues.map((i) => i.path?.[0]))
    for (const issue of simulatorOptions.safeParse(toOptions(e, refused)).error?.issues ?? []) {
      ctx.addIssue({ code: 'custom', path: [variableOf(issue.path.join('.'))], message: issue.message })
    }
  }, { when: () => true })

type SimEnv = z.output<typeof simEnv>

/** The option each variable sets, by its path in SimulatorOptions. */
const OPTION: Partial<Record<keyof SimEnv, string>> = {
  SIM_LOG_LEVEL: 'logger.level',
  SIM_CLIENT_ID: 'clientId',
  SIM_CLIENT_SECRET: 'clientSecret',
  SIM_SEMANTICS: 'semantics',
  SIM_WRITE_MS: 'writeMs',
  SIM_READ_LAG_MS: 'readLagMs',
  SIM_TOKEN_TTL_SECONDS: 'tokenTtlSeconds',
  SIM_STRICT: 'strict',
  SIM_SEED: 'faults.seed',
  SIM_FAULT_CONFLICT_RATE: 'faults.conflictRate',
  SIM_FAULT_RATE_LIMIT_RATE: 'faults.rateLimitRate',
  SIM_FAULT_SERVER_ERROR_RATE: 'faults.serverErrorRate',
  SIM_FAULT_DROP_RATE: 'faults.dropRate',
  SIM_LATENCY_MS: 'faults.latencyMs',
  SIM_RATE_LIMIT_PER_MINUTE: 'rateLimit.requests',
  SIM_LIMITS_API: 'limitsApi',
}
const VARIABLES = Object.entries(OPTION) as Array<[keyof SimEnv, string]>

/** The variable behind an option's problem; the rule on the fault rates' sum names all four. */
function variableOf (option: string): string {
  if (option === 'faults') return RATES.map((rate) => variableOf(`faults.${rate}`)).join(' + ')
  // The longest option path the problem lies under: `faults.latencyMs.min` is SIM_LATENCY_MS's.
  const [name] = VARIABLES.filter(([, path]) => option === path || option.startsWith(`${path}.`)).sort((a, b) => b[1].length - a[1].length)[0] ?? [option]
  return name
}

function toOptions (e: SimEnv, refused = new Set<unknown>()): SimulatorOptions {
  const options: Record<string, unknown> = {}
  for (const [name, path] of VARIABLES) {
    if (e[name] === undefined || refused.has(name)) continue
    const keys = path.split('.')
    let at = options
    for (const key of keys.slice(0, -1)) at = (at[key] ??= {}) as Record<string, unknown>
    at[keys.at(-1)!] = e[name]
  }
  return options as SimulatorOptions
}

export interface SimConfig {
  port: number
  host: string
  options: SimulatorOptions
}

/** The standalone simulator's settings, or every problem, each naming its variable. */
export function loadSimConfig (env: Record<string, string | undefined>): { config: SimConfig } | { problems: string[] } {
  const parsed = simEnv.safeParse(env)
  if (!parsed.success) return { problems: parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`) }
  return { config: { port: parsed.data.SIM_PORT, host: parsed.data.SIM_HOST, options: toOptions(parsed.data) } }
}
