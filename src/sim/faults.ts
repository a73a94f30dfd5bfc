// Seeded fault injection: each request's fate is drawn from one reproducible random source.
import { setTimeout as sleep } from 'node:timers/promises'
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { SimSettings } from './options.ts'
import { drop, fail, tooManyRequests } from './replies.ts'
import type { SimStats } from './stats.ts'

type Fault = 'conflict' | 'rateLimit' | 'serverError' | 'drop'
export type Endpoint = 'token' | 'read' | 'write'

/** The faults each endpoint can suffer, in the order their rates split the draw. */
const FAULTS: Record<Endpoint, readonly Fault[]> = {
  token: ['serverError', 'drop'],
  read: ['rateLimit', 'serverError', 'drop'],
  write: ['conflict', 'rateLimit', 'serverError', 'drop'],
}
const SERVER_ERRORS = [
  { status: 500, code: 'internal.server.error', message: 'The server encountered an internal error.' },
  { status: 502, code: 'bad.gateway', message: 'The server received an invalid response from an upstream server.' },
  { status: 503, code: 'service.unavailable', message: 'The service is currently unavailable.' },
] as const

/** What the draw decided for one request. */
export interface Fate {
  endpoint: Endpoint
  fault: Fault | undefined
  serverError: (typeof SERVER_ERRORS)[number]
  /** A PATCH's server error or drop strikes after its write was applied. */
  afterWrite: boolean
}

export interface Faults {
  /**
   * Draws a request's whole fate up front, synchronously, so the same order of requests
   * replays the same faults whatever the latency does to the order they finish in; then waits
   * out the request's latency.
   */
  arrive(endpoint: Endpoint): Promise<Fate>
  /** Sends the injected fault that strikes before the request is handled; true when it did. */
  before(fate: Fate, req: FastifyRequest, reply: FastifyReply): boolean
  /** Sends the injected fault that strikes after a PATCH was applied; true when it did. */
  afterWrite(fate: Fate, req: FastifyRequest, reply: FastifyReply): boolean
}

/** Tiny seedable PRNG (mulberry32): reproducible fault sequences without a dependency. */
function mulberry32 (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = Math.imul(a ^ (a >>> 15), a | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

export function createFaults (options: SimSettings['faults'], stats: SimStats): Faults {
  const random = mulberry32(options.seed)
  const rates: Record<Fault, number> = {
    conflict: options.conflictRate,
    rateLimit: options.rateLimitRate,
    serverError: options.serverErrorRate,
    drop: options.dropRate,
  }
  const { injected } = stats

  return {
    async arrive (endpoint) {
      const roll = random()
      let edge = 0 // the endpoint's rates laid end to end over [0, 1)
      const fault = FAULTS[endpoint].find((f) => roll < (edge += rates[f]))
      const serverError = SERVER_ERRORS[fault === 'serverError' ? Math.floor(random() * SERVER_ERRORS.length) : 0]!
      const afterWrite = endpoint === 'write' && (fault === 'serverError' || fault === 'drop') && random() < 0.5
      const l = options.latencyMs
      if (l !== undefined) await sleep(l.min + random() * (l.max - l.min))
      return { endpoint, fault, serverError, afterWrite }
    },

    before (fate, req, reply) {
      if (fate.fault === undefined || fate.afterWrite) return false
      if (fate.fault === 'conflict') {
        injected.conflicts++
        fail(reply, 409, 'conflict', 'The conversation was modified by another request.')
      } else if (fate.fault === 'rateLimit') {
        injected.rateLimited++
        // Genesys's other limits (org, endpoint) look the same as the token's.
        tooManyRequests(stats, reply, 1)
      } else if (fate.fault === 'serverError') {
        injected.serverErrors++
        fail(reply, fate.serverError.status, fate.serverError.code, fate.serverError.message)
      } else {
        if (fate.endpoint === 'write') injected.dropsBeforeWrite++
        else injected.drops++
        drop(req, reply)
      }
      return true
    },

    afterWrite (fate, req, reply) {
      if (!fate.afterWrite) return false
      if (fate.fault === 'drop') {
        injected.dropsAfterWrite++
        drop(req, reply)
      } else {
        injected.serverErrors++
        injected.serverErrorsAfterWrite++
        fail(reply, fate.serverError.status, fate.serverError.code, fate.serverError.message)
      }
      return true
    },
  }
}
