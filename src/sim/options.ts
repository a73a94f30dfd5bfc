// The simulator's options: the one schema that both buildSimulator() and the SIM_* variables
// (env.ts) go through, so each rule and each default is written once.
import type { DestinationStream } from 'pino'
import { z } from 'zod'
import '../messages.ts'

/** What the simulator accepts unless told otherwise; sandbox mode and `npm run sim` use it. */
export const SANDBOX_CLIENT = { id: 'sandbox', secret: 'sandbox' } as const

/**
 * The read lag of the sandbox and `npm run sim`: long enough that a read made right after a write
 * misses it, as Genesys's may, short enough not to be in a person's way.
 */
export const SANDBOX_READ_LAG_MS = 300

export const RATES = ['conflictRate', 'rateLimitRate', 'serverErrorRate', 'dropRate'] as const

const rate = z.number().min(0).max(1).default(0)

/**
 * Rates are fractions 0..1 of an endpoint's requests. Each request draws one number and the
 * rates that apply to its endpoint split [0, 1) in this order: conflict, rate limit, server
 * error, drop. So faults never combine and each rate is exact in expectation.
 */
const faults = z
  .object({
    seed: z.int().default(1),
    /** PATCH: 409 `conflict`, not applied. */
    conflictRate: rate,
    /** GET and PATCH: 429 `too.many.requests.retry.after` with `Retry-After: 1` (and nothing else, as Genesys), not applied. */
    rateLimitRate: rate,
    /** Token, GET and PATCH: 500, 502 or 503. Half the PATCH ones come after the write landed. */
    serverErrorRate: rate,
    /** Token, GET and PATCH: the socket is destroyed, no answer. Half the PATCH ones after the write landed. */
    dropRate: rate,
    /** Every token, GET and PATCH request waits uniformly within [min, max] ms before it is handled. */
    latencyMs: z
      .object({ min: z.number().min(0), max: z.number() })
      .refine(({ min, max }) => min <= max, 'must have min <= max')
      .optional(),
  })
  .superRefine((f, ctx) => {
    // A PATCH can suffer every fault, so its rates bound all the others; allow for float rounding.
    const sum = RATES.reduce((total, name) => total + f[name], 0)
    if (sum > 1 + 1e-9) ctx.addIssue({ code: 'custom', message: `${RATES.join(' + ')} must be at most 1, got ${sum}` })
  }, {
    // Checked even when another fault option is wrong, so that every problem is told at once;
    // not when a rate is itself out of range, which is told on its own.
    when: ({ value }) => RATES.every((name) => rate.safeParse((value as Record<string, unknown>)[name]).success),
  })

export const simulatorOptions = z.object({
  clientId: z.string().min(1).default(SANDBOX_CLIENT.id),
  clientSecret: z.string().min(1).default(SANDBOX_CLIENT.secret),
  /** How PATCH applies attributes: per-key overwrite, or the whole map replaced. */
  semantics: z.enum(['merge', 'replace']).default('merge'),
  /** Each write holds its conversation this long; a second write meanwhile gets 409. */
  writeMs: z.number().min(0).default(0),
  /**
   * Reads show each participant's attributes as they stood this long ago, as Genesys, which
   * propagates writes asynchronously, may (its guidance: retry a read-back for up to 10 s).
   */
  readLagMs: z.number().min(0).default(0),
  /** Token lifetime sent as `expires_in`. */
  tokenTtlSeconds: z.int().min(1).default(86_400),
  /** Unknown conversations and participants are 404 instead of created on first use. */
  strict: z.boolean().default(false),
  clock: z.custom<() => number>((v) => typeof v === 'function', 'must be a function').default(() => Date.now),
  /** Fastify's logger: off, on, or a level with (standalone) a destination. */
  logger: z.union([z.boolean(), z.object({ level: z.string(), stream: z.custom<DestinationStream>().optional() })]).default(false),
  /** Seeded fault injection; the same seed and the same order of requests give the same faults. */
  faults: faults.prefault({}),
  /**
   * Per-token request budget: at most `requests` in any `windowMs`-long interval (a sliding
   * window), as Genesys enforces it (300 per minute per token). Set it below the gateway's own
   * budget to play a shared OAuth client or a lower org limit.
   */
  rateLimit: z.object({ requests: z.int().min(1), windowMs: z.number().positive().default(60_000) }).optional(),
  /**
   * GET /api/v2/organizations/limits/namespaces/platform.api: answered with the org's limits, or
   * refused 403 as an org on an older permission model (limits:organization:view) refuses it.
   */
  limitsApi: z.enum(['answer', 'forbidden']).default('answer'),
  /** Keep a log of every API request in `sim.requests` (tests check rate windows with it). */
  recordRequests: z.boolean().default(false),
})

/** What callers may pass: every field optional. */
export type SimulatorOptions = z.input<typeof simulatorOptions>
export type FaultOptions = z.input<typeof faults>
/** The options with every default filled in. */
export type SimSettings = z.output<typeof simulatorOptions>

/** Checks the options and fills in defaults; throws naming every bad option. */
export function settingsOf (opts: SimulatorOptions): SimSettings {
  const parsed = simulatorOptions.safeParse(opts)
  if (parsed.success) return parsed.data
  throw new Error(`invalid simulator options: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`)
}
