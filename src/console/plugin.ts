import fp from 'fastify-plugin'
import { systemClock, type Clock } from '../clock.ts'
import type { Config } from '../config.ts'
import { runDoctor, type Report, probe } from '../doctor/index.ts'
import type { Simulator } from '../sim/index.ts'
import { consoleRoutes } from './routes.ts'
import { Sessions } from './session.ts'
import { genesysSource, simulatorSource } from './source.ts'
import { ANONYMOUS, WriteLog } from './writes.ts'
import type { Attributes } from '../domain.ts'
import type { AsyncDelivery } from '../delivery/index.ts'
import type { Written } from '../routes/index.ts'
import type { Updates } from '../updates/index.ts'
import type { Metrics } from '../observability/index.ts'

export interface ConsoleOptions {
  config: Config
  /** Sandbox mode's in-process simulator: the console lists and reads its conversations. */
  sim?: Simulator | undefined
  /** Dates the sign-in sessions. */
  clock?: Clock
  /** Lets the console be told of each synchronous write, and which key made it (app.ts wires it to the attributes routes). */
  onWritten: (listener: (w: Written) => void) => void
  /** The write pipeline: the console reads conversations, and the probe writes, through it. */
  updates: Updates
  /** Asynchronous delivery, whose updates the console shows each caller. */
  delivery?: AsyncDelivery | undefined
  metrics: Metrics
}

/** How long the going-live checks' report is reused (the probe is always run anew). */
const DOCTOR_CACHE_MS = 60_000

/**
 * The browser console at /console: on in sandbox mode, else only with CONSOLE=1, and then behind
 * the API keys (see session.ts). It is told of every synchronous write that goes through the
 * service (onWritten), and notes which API key set which keys, to show beside the values.
 */
export default fp<ConsoleOptions>(
  async (app, { config, sim, clock = systemClock, updates, delivery, metrics, onWritten }) => {
    const sandbox = config.mode === 'sandbox'
    if (!sandbox && !config.console) return
    const writes = new WriteLog()
    const source = sim !== undefined
      ? simulatorSource(sim)
      : genesysSource(updates, { minIntervalMs: 2000, timeoutMs: Math.min(config.requestTimeoutMs, 5000) })

    // Which caller's writes changed what: the values are shown beside the key that set them.
    onWritten(({ caller, conversationId, participantId, keys }) => {
      writes.record(conversationId, participantId, keys, caller ?? ANONYMOUS, clock.now())
      source.changed(conversationId)
    })

    const sessions = new Sessions(config.apiKeys, clock, config.genesys.clientSecret)
    // The checks fetch a token of their own and read Genesys once: done at most once a minute,
    // whoever loads the page, not on every load.
    let checked: { at: number; report: Promise<Report> } | undefined
    const checks = (): Promise<Report> => {
      const now = clock.now()
      if (checked === undefined || now - checked.at >= DOCTOR_CACHE_MS) {
        const report = runDoctor(config, { sandbox, budget: () => updates.budget() })
        checked = { at: now, report }
        report.catch(() => (checked = undefined))
      }
      return checked.report
    }
    // The probe's reads and writes go through the service's own pipeline, as any write does: the
    // per-conversation queue and lock (no write of the service's overlaps one of the probe's), the
    // request budget (bulk: flows go first), retries; written exactly as given (no read-merge), as
    // the probe asks Genesys itself whether it merges.
    const due = () => ({ deadline: clock.now() + config.requestTimeoutMs, priority: 'bulk' as const })
    const pipeline = {
      getConversation: (conversationId: string) => updates.conversation(conversationId, due(), { asGenesysShows: true }),
      async patchParticipantAttributes (conversationId: string, participantId: string, attributes: Attributes) {
        await updates.submit(conversationId, { participantId, exact: true }, { changes: attributes, ...due() })
      },
    }
    const doctor = async (target?: { conversationId: string; participantId: string }): Promise<Report> => {
      const report = await checks()
      if (target === undefined) return report
      const found = await probe(pipeline, target.conversationId, target.participantId, { writeMode: config.genesys.writeMode })
      const all = [...report.checks, found.check]
      return { ok: all.every((c) => c.ok), semantics: found.semantics, checks: all }
    }
    const authOn = config.apiKeys.length > 0
    await app.register(consoleRoutes, { sandbox, publicUrl: config.publicUrl, doctor, sessions, authOn, source, writes, delivery, registry: metrics.registry })
  },
  { name: 'console' }
)
