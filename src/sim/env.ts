// The standalone simulator's environment (SIM_*), apart from main.ts so tests can read it.
import { z } from 'zod'
import { SANDBOX_CLIENT } from './simulator.js'

const rate = z.coerce.number().min(0).max(1).default(0)
const RATES = ['SIM_FAULT_CONFLICT_RATE', 'SIM_FAULT_RATE_LIMIT_RATE', 'SIM_FAULT_SERVER_ERROR_RATE', 'SIM_FAULT_DROP_RATE'] as const

export const simEnv = z
  .object({
    SIM_PORT: z.coerce.number().int().min(0).max(65535).default(8787),
    SIM_HOST: z.string().default('127.0.0.1'),
    SIM_CLIENT_ID: z.string().min(1).default(SANDBOX_CLIENT.id),
    SIM_CLIENT_SECRET: z.string().min(1).default(SANDBOX_CLIENT.secret),
    SIM_SEMANTICS: z.enum(['merge', 'replace']).default('merge'),
    SIM_WRITE_MS: z.coerce.number().int().min(0).default(0),
    SIM_TOKEN_TTL_SECONDS: z.coerce.number().int().min(1).default(86_400),
    SIM_STRICT: z.enum(['0', '1']).default('0'),
    // pino level of the simulator's own request log; benchmarks turn it down.
    SIM_LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    // Seed of the fault PRNG: the same seed and request order replay the same faults.
    SIM_SEED: z.coerce.number().int().default(1),
    // Fraction of PATCHes answered 409 conflict, not applied.
    SIM_FAULT_CONFLICT_RATE: rate,
    // Fraction of GETs and PATCHes answered 429 with Retry-After: 1, not applied.
    SIM_FAULT_RATE_LIMIT_RATE: rate,
    // Fraction of token, GET and PATCH requests answered 500/502/503; half the PATCH ones after the write landed.
    SIM_FAULT_SERVER_ERROR_RATE: rate,
    // Fraction of token, GET and PATCH requests whose connection is dropped unanswered; half the PATCH ones after the write landed.
    SIM_FAULT_DROP_RATE: rate,
    // "min-max" in ms, e.g. "5-40": each token, GET and PATCH request waits uniformly within it.
    SIM_LATENCY_MS: z
      .string()
      .regex(/^\d+-\d+$/, 'expected "min-max" in milliseconds, e.g. "5-40"')
      .transform((s) => {
        const [min, max] = s.split('-').map(Number) as [number, number]
        return { min, max }
      })
      .refine(({ min, max }) => min <= max, 'min must not exceed max')
      .optional(),
    // Requests per minute per token (GET and PATCH) before 429, like Genesys's 300; unset means no budget.
    SIM_RATE_LIMIT_PER_MINUTE: z.coerce.number().int().min(1).optional(),
  })
  .superRefine((e, ctx) => {
    // Faults are mutually exclusive shares of a PATCH's requests, so together they fit in 1.
    if (RATES.reduce((sum, name) => sum + e[name], 0) > 1 + 1e-9) ctx.addIssue({ code: 'custom', path: [RATES.join(' + ')], message: 'must add up to at most 1' })
  })

