// `npm run -s doctor [-- --json] [-- --conversation C --participant P]`: the going-live checks,
// with the service's own environment. Exit 0 only when every check passes; 2 for a bad command line.
import { parseArgs } from 'node:util'
import { ConfigError, loadConfig, type Config } from '../config.ts'
import { runDoctor, summary, type Report } from './doctor.ts'
import { sandboxTarget } from './sandbox.ts'

const usage = 'usage: npm run -s doctor -- [--json] [--conversation CONVERSATION_ID --participant PARTICIPANT_ID]'

const help = `Checks this gateway's configuration against the Genesys Cloud org it names, before a flow
depends on it: region, OAuth client, the token's rate limit, Redis, PUBLIC_URL, API keys.

${usage}

  --json                      one JSON document on stdout: { ok, semantics, checks: [{ name, ok, detail }] }
  --conversation ID           a test call in progress that you own, and one of its participants:
  --participant ID            the doctor writes two probe keys to it, one at a time, to tell whether
                              Genesys merges or replaces attributes, then puts it back as it was
  -h, --help                  this text

It reads the same environment as the service (GENESYS_*, REDIS_URL, PUBLIC_URL, API_KEYS, ...).
In sandbox mode (no GENESYS_CLIENT_ID) it checks the simulator of the sandbox running on PORT
(npm start), else of npm run sim on SIM_PORT, else one of its own (and then does not probe).
Exit status: 0 when every check passes, 1 when one fails, 2 for a bad command line.
`

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

function args (argv: string[]): { json: boolean; help: boolean; probe?: { conversationId: string; participantId: string }; problems: string[] } {
  const problems: string[] = []
  let values: Record<string, string | boolean | undefined> = {}
  try {
    ;({ values } = parseArgs({ args: argv, options: { json: { type: 'boolean' }, conversation: { type: 'string' }, participant: { type: 'string' }, help: { type: 'boolean', short: 'h' } } }))
  } catch (err) {
    problems.push((err as Error).message)
  }
  const conversation = values.conversation as string | undefined
  const participant = values.participant as string | undefined
  if ((conversation === undefined) !== (participant === undefined)) problems.push('--conversation and --participant go together: the probe writes to one participant of one call')
  for (const [flag, v] of [['--conversation', conversation], ['--participant', participant]] as const) {
    if (v !== undefined && !UUID.test(v)) problems.push(`${flag} must be a Genesys id (a UUID), got ${JSON.stringify(v)}`)
  }
  const probe = conversation !== undefined && participant !== undefined && problems.length === 0
    ? { conversationId: conversation.toLowerCase(), participantId: participant.toLowerCase() }
    : undefined
  return { json: values.json === true, help: values.help === true, ...(probe && { probe }), problems }
}

/** Human text: one line per check, what failed marked so it stands out in a terminal. */
export function text (report: Report, config: Config | undefined): string {
  const lines = [`participant-data-gateway doctor${config ? `: ${config.mode === 'sandbox' ? 'sandbox mode (the built-in simulator)' : `Genesys Cloud at ${config.genesys.apiUrl}`}` : ''}`, '']
  for (const c of report.checks) lines.push(`  ${c.skipped ? 'skip' : c.ok ? 'ok  ' : 'FAIL'}  ${c.name}: ${c.detail}`)
  lines.push('', `PATCH semantics: ${report.semantics}${report.semantics === 'unknown' && !report.checks.some((c) => c.name.startsWith('PATCH')) ? ' (give --conversation and --participant of a test call to find out)' : ''}`)
  lines.push(`${summary(report)}.`, '')
  return lines.join('\n')
}

async function main (argv: string[]): Promise<number> {
  const { json, help: wantsHelp, probe, problems } = args(argv)
  if (wantsHelp) {
    process.stdout.write(help)
    return 0
  }
  if (problems.length > 0) {
    process.stderr.write(`${problems.join('\n')}\n${usage}\n`)
    return 2
  }
  let config: Config | undefined
  let report: Report
  try {
    config = loadConfig()
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err
    // The same sentences the service would stop with; they name variables, never their secrets.
    report = { ok: false, semantics: 'unknown', checks: [{ name: 'Configuration', ok: false, detail: err.problems.join('; ') }] }
  }
  if (config !== undefined) {
    // Outside sandbox, Genesys as configured; in sandbox, the simulator the running sandbox uses.
    const sandbox = config.mode === 'sandbox' ? await sandboxTarget(config, process.env) : undefined
    try {
      report = await runDoctor(sandbox?.config ?? config, {
        probe,
        ...(sandbox && { sandbox: true, simulator: sandbox.simulator, probeUnavailable: sandbox.probeUnavailable }),
      })
    } finally {
      await sandbox?.close()
    }
  }
  process.stdout.write(json ? JSON.stringify(report!, null, 2) + '\n' : text(report!, config))
  return report!.ok ? 0 : 1
}

process.exitCode = await main(process.argv.slice(2))
