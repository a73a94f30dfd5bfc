import { Agent } from 'undici'
import type { Config } from '../config.ts'
import { GenesysClient, type Exchange, type HttpOptions, TokenProvider, UpstreamError } from '../genesys/index.ts'
import { keysCheck, publicUrlCheck, rateLimitCheck, redisCheck, type Check } from './checks.ts'
import { probe, type Semantics } from './probe.ts'
import type { Standing } from '../coordination/index.ts'

export type { Check } from './checks.ts'

export interface Report {
  ok: boolean
  semantics: Semantics
  checks: Check[]
}

export interface DoctorOptions {
  /** A test call the user owns: its conversation and one participant, to probe. */
  probe?: { conversationId: string; participantId: string } | undefined
  /** Sandbox: Genesys is the simulator at config.genesys.apiUrl; the checks say so. */
  sandbox?: boolean
  /** Which simulator that is, in words (the CLI finds the running sandbox's); default: the built-in one. */
  simulator?: string
  /** Why the probe cannot run here; the probe check fails with it (the CLI found no sandbox holding the call). */
  probeUnavailable?: string
  /** The running service's rate budget (the console's doctor): its configured and learned limits. */
  budget?: () => Promise<Standing>
  /** Between reads that wait for a 202'd write to show; tests pass one that does not wait. */
  pause?: (ms: number) => Promise<void>
  /** What the probe measures how long a write took to show by; tests pass the one their pause moves. */
  clock?: () => number
}

// A made-up conversation: reading it proves the API host answers and accepts the token, and its
// 404 costs nothing (a probe reads the user's own call instead).
const NO_CONVERSATION = '00000000-0000-4000-8000-000000000000'

export async function runDoctor (config: Config, opts: DoctorOptions = {}): Promise<Report> {
  const { genesys: g } = config
  const checks: Check[] = []
  const where = opts.sandbox ? `${opts.simulator ?? `the built-in simulator (${g.apiUrl})`}, not Genesys Cloud: sandbox mode` : undefined
  const dispatcher = new Agent({ connections: 4 })
  const seen: Exchange[] = []
  const http: HttpOptions = { dispatcher, timeoutMs: Math.min(g.timeoutMs, 10_000), onExchange: (e) => seen.push(e) }
  const tokens = new TokenProvider({ ...http, loginUrl: g.loginUrl, clientId: g.clientId, clientSecret: g.clientSecret })
  const client = new GenesysClient({ ...http, apiUrl: g.apiUrl, tokens })
  let semantics: Semantics = 'unknown'
  // The checks that talk to Genesys, in order; each needs the one before it to have passed.
  const genesysChecks = [REGION, OAUTH, API, RATE_LIMIT, ...(opts.probe !== undefined ? [PROBE] : [])]
  const genesys = async (): Promise<void> => {
    const token = await tokens.get().then(() => undefined, (err: unknown) => err)
    const login = seen.find((e) => e.op === 'token')
    const loginHost = new URL(g.loginUrl).host
    const apiHost = new URL(g.apiUrl).host
    if (login === undefined || login.status === 0) {
      checks.push({ name: REGION, ok: false, detail: `no answer from the login host ${loginHost} (${reason(token)}): check GENESYS_REGION (or GENESYS_LOGIN_URL), DNS and the outbound firewall` })
      checks.push(...skip(genesysChecks.slice(1), 'Genesys Cloud region'))
      return
    }
    if (token !== undefined) {
      checks.push({ name: REGION, ok: true, detail: where ?? `the login host ${loginHost} answers` })
      checks.push({ name: OAUTH, ok: false, detail: oauthRefusal(token, g.clientId) })
      checks.push(...skip(genesysChecks.slice(2), 'OAuth client'))
      return
    }
    checks.push({ name: OAUTH, ok: true, detail: `client ${g.clientId} was given a token (Client Credentials grant)` })

    const target = opts.probe?.conversationId ?? NO_CONVERSATION
    const read = await client.getConversation(target).then(() => undefined, (err: unknown) => err)
    const api = seen.findLast((e) => e.op === 'getConversation')
    const answered = api !== undefined && api.status !== 0
    checks.unshift({
      name: REGION,
      ok: answered,
      detail: answered ? where ?? `the login host ${loginHost} and the API host ${apiHost} answer` : `no answer from the API host ${apiHost} (${reason(read)}): check GENESYS_REGION (or GENESYS_API_URL) and the outbound firewall`,
    })
    if (!answered) {
      checks.push(...skip(genesysChecks.slice(2), 'Genesys Cloud region'))
      return
    }
    const status = read instanceof UpstreamError ? read.status : 200
    const readable = status === 200 || (status === 404 && target === NO_CONVERSATION)
    checks.push({
      name: API,
      ok: readable,
      detail: readable
        ? `GET /api/v2/conversations/{id} answers ${status}${status === 404 ? ' for a made-up id' : ''}, as it should`
        : apiRefusal(read, target, g.clientId),
    })
    checks.push(await rateLimitCheck(config, opts.budget, () => client.getTokenRateLimit()))
    if (opts.probe === undefined) return
    if (!readable) checks.push(...skip([PROBE], API))
    else if (opts.probeUnavailable !== undefined) checks.push({ name: PROBE, ok: false, detail: opts.probeUnavailable })
    else {
      const found = await probe(client, opts.probe.conversationId, opts.probe.participantId, { writeMode: g.writeMode, pause: opts.pause, clock: opts.clock })
      semantics = found.semantics
      checks.push(found.check)
    }
  }
  try {
    await genesys()
  } finally {
    // Every check that does not need Genesys runs whatever Genesys answered.
    checks.push(await redisCheck(config), publicUrlCheck(config.publicUrl, opts.sandbox === true), keysCheck(config.apiKeys, opts.sandbox === true))
    await dispatcher.close()
  }
  return finish(checks, semantics)
}

const finish = (checks: Check[], semantics: Semantics): Report => ({ ok: checks.every((c) => c.ok), semantics, checks })

/** "All 7 checks passed", or "2 of 7 checks failed, 3 skipped": every check counted, the CLI's and the console's words. */
export function summary (report: Report): string {
  const total = report.checks.length
  const failed = report.checks.filter((c) => !c.ok && !c.skipped).length
  const skipped = report.checks.filter((c) => c.skipped).length
  if (failed === 0 && skipped === 0) return `All ${total} checks passed`
  return `${failed} of ${total} checks failed${skipped > 0 ? `, ${skipped} skipped (they need one that failed)` : ''}`
}

const REGION = 'Genesys Cloud region'
const OAUTH = 'OAuth client'
const API = 'Conversations API with this token'
const RATE_LIMIT = 'Rate limit of the token'
const PROBE = 'PATCH semantics (merge or replace)'

/** Checks that cannot run because `failed` did not pass: listed, so the report always counts every check. */
const skip = (names: string[], failed: string): Check[] => names.map((name) => ({ name, ok: false, skipped: true, detail: `not checked: it needs "${failed}" to pass` }))

/** Why an exchange failed, in a few words, without anything it was sent. */
function reason (err: unknown): string {
  if (err instanceof UpstreamError) return err.status === undefined ? err.message : `HTTP ${err.status}`
  return err instanceof Error ? err.message : String(err)
}

function oauthRefusal (err: unknown, clientId: string): string {
  if (err instanceof UpstreamError && (err.status === 400 || err.status === 401)) {
    return `Genesys refused the OAuth client ${clientId} (HTTP ${err.status}${err.genesysCode ? `, ${err.genesysCode}` : ''}): the client id or secret is wrong, or the client was deleted or is not a Client Credentials client. Admin > Integrations > OAuth shows it; GENESYS_CLIENT_SECRET is not shown here`
  }
  return `no token for client ${clientId}: ${reason(err)}`
}

function apiRefusal (err: unknown, conversationId: string, clientId: string): string {
  if (!(err instanceof UpstreamError)) return reason(err)
  if (err.status === 403) return `the OAuth client ${clientId} may not read conversations (HTTP 403${err.genesysCode ? `, ${err.genesysCode}` : ''}): give its role the Conversation permissions docs/going-live.md lists`
  if (err.status === 401) return 'the API refused a token the login host had just issued (HTTP 401): GENESYS_REGION may name another region than the OAuth client\'s org'
  if (err.status === 404) return `conversation ${conversationId} is not in this org (HTTP 404): give the id of a call in progress in the org this client belongs to`
  return `GET /api/v2/conversations/${conversationId} failed: ${reason(err)}${err.correlationId ? ` (inin-correlation-id ${err.correlationId})` : ''}`
}
